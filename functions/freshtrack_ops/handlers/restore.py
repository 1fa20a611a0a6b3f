"""Task handlers of the test-restore and restore workflows."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.handlers._common import logger, metrics, tracer
from freshtrack_ops.models import (
    ApprovalEvent,
    CountsEvent,
    DatabaseEvent,
    HealthEvent,
    LoadEvent,
    RecordVerificationEvent,
    ServicesEvent,
    ValidateRestoreEvent,
    VerifyEvent,
)
from freshtrack_ops.restore import checks
from freshtrack_ops.restore.approval import request_approval
from freshtrack_ops.restore.database import database_action
from freshtrack_ops.restore.load import load_backup
from freshtrack_ops.restore.plan import plan_restore, plan_test_restore
from freshtrack_ops.restore.record import record_verification
from freshtrack_ops.restore.verify import verify_archive


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateRestoreEvent)
def validate_test_restore(event: ValidateRestoreEvent, context: LambdaContext) -> dict[str, Any]:
    return plan_test_restore(event, runtime.targets(), runtime.catalog()).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateRestoreEvent)
def validate_restore(event: ValidateRestoreEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_restore(event, runtime.targets(), runtime.catalog())
    logger.info("restore planned", extra={"host": plan.host, "backup_id": plan.backup.backup_id})
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ApprovalEvent)
def approval(event: ApprovalEvent, context: LambdaContext) -> dict[str, Any]:
    settings = runtime.settings()
    request_approval(
        event, settings.ops_table, runtime.client("dynamodb"), runtime.client("sns"), settings.notification_topic_arn
    )
    logger.info("approval requested", extra={"host": event.plan.host, "backup_id": event.plan.backup.backup_id})
    return {"requested": True}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=VerifyEvent)
def verify(event: VerifyEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.backup.host)
    with runtime.runner(target) as runner:
        return verify_archive(event.backup, target, runner, runtime.store()).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=DatabaseEvent)
def database(event: DatabaseEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.host)
    with runtime.runner(target) as runner:
        return {"result": database_action(event, target, runner)}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=LoadEvent)
def load(event: LoadEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.backup.host)
    with runtime.runner(target) as runner:
        result = load_backup(event.backup, event.database, target, runner, runtime.store())
    metrics.add_dimension(name="host", value=target.id)
    metrics.add_metric(name="RestoreLoadSeconds", unit=MetricUnit.Seconds, value=result.duration_s)
    return result.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=CountsEvent)
def counts(event: CountsEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.backup.host)
    with runtime.runner(target) as runner:
        result = checks.compare_counts(event.backup, event.database, target, runner, runtime.store())
    return result.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ServicesEvent)
def services(event: ServicesEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.host)
    with runtime.runner(target) as runner:
        return checks.services(target, runner, event.action, event.services).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=HealthEvent)
def health(event: HealthEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.host)
    with runtime.runner(target) as runner:
        return checks.check_health(target, runner).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=RecordVerificationEvent)
def record(event: RecordVerificationEvent, context: LambdaContext) -> dict[str, Any]:
    manifest = record_verification(event, runtime.store(), runtime.catalog())
    metrics.add_dimension(name="host", value=manifest.host)
    outcome = "TestRestorePassed" if event.passed else "TestRestoreFailed"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    return {"backup_id": manifest.backup_id, "verification": manifest.verification.model_dump(mode="json")}
