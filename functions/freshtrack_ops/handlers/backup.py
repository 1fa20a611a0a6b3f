"""Task handlers of the backup workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.backup.chain import chain_test_restore
from freshtrack_ops.backup.cleanup import cleanup_backup
from freshtrack_ops.backup.manifest import measured_dump_rate, write_manifest
from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.models import ChainEvent, CleanupEvent, ManifestEvent, ValidateBackupEvent
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.steps.backup import DUMP, PREFLIGHT


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateBackupEvent)
def validate(event: ValidateBackupEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_backup(event, runtime.targets())
    plan = plan.model_copy(update={"dump_rate_mb_s": measured_dump_rate(runtime.catalog().list_backups(plan.host))})
    logger.info("backup planned", extra={"backup_id": plan.backup_id, "host": plan.host})
    return plan.model_dump(mode="json")


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
    metrics.add_dimension(name="host", value=event.plan.host)
    metrics.add_metric(name="IncompleteUploadsAborted", unit=MetricUnit.Count, value=result.aborted_uploads)
    metrics.add_metric(name="ManifestlessDumpsDeleted", unit=MetricUnit.Count, value=len(result.deleted_objects))
    logger.info("backup cleaned up after a failure", extra=result.model_dump(mode="json"))
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


preflight = host_handler(PREFLIGHT)
dump = host_handler(DUMP)
