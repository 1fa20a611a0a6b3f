"""Task handlers of the backup workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.backup.chain import chain_test_restore
from freshtrack_ops.backup.cleanup import cleanup_backup
from freshtrack_ops.backup.manifest import write_manifest
from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.backup.preflight import run_preflight
from freshtrack_ops.backup.stream import stream_dump
from freshtrack_ops.handlers._common import logger, metrics, tracer
from freshtrack_ops.models import ChainEvent, CleanupEvent, HostEvent, ManifestEvent, ValidateBackupEvent


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateBackupEvent)
def validate(event: ValidateBackupEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_backup(event, runtime.targets())
    logger.info("backup planned", extra={"backup_id": plan.backup_id, "host": plan.host})
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=HostEvent)
def preflight(event: HostEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.plan.host)
    with runtime.runner(target) as runner:
        return run_preflight(target, runner).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=HostEvent)
def dump(event: HostEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.plan.host)
    part_size = runtime.settings().part_size_mb * 1024 * 1024
    with runtime.runner(target) as runner:
        result = stream_dump(event.plan, target, runner, runtime.store(), part_size=part_size)
    metrics.add_dimension(name="host", value=target.id)
    metrics.add_metric(name="BackupSizeBytes", unit=MetricUnit.Bytes, value=result.size_bytes)
    metrics.add_metric(name="BackupDumpSeconds", unit=MetricUnit.Seconds, value=result.duration_s)
    logger.info("dump stored", extra={"key": result.dump_key, "size": result.size_bytes, "parts": result.parts})
    return result.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=ManifestEvent)
def manifest(event: ManifestEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.plan.host)
    output = write_manifest(event, target, runtime.store(), runtime.catalog())
    metrics.add_dimension(name="host", value=target.id)
    metrics.add_metric(name="BackupSucceeded", unit=MetricUnit.Count, value=1)
    return output.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=CleanupEvent)
def cleanup(event: CleanupEvent, context: LambdaContext) -> dict[str, Any]:
    result = cleanup_backup(event, runtime.store())
    metrics.add_metric(name="BackupFailed", unit=MetricUnit.Count, value=1)
    logger.warning("backup failed and was cleaned up", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ChainEvent)
def chain(event: ChainEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.result.host)
    settings = runtime.settings()
    result = chain_test_restore(
        event.result, target, runtime.client("stepfunctions"), settings.test_restore_state_machine_arn
    )
    logger.info("test restore chained" if result.started else "no test restore chained", extra=result.model_dump())
    return result.model_dump(mode="json")
