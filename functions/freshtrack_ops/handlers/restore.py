"""Task handlers of the test-restore and restore workflows."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.models import (
    ApprovalEvent,
    RecordVerificationEvent,
    ValidateRestoreEvent,
)
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.restore.approval import request_approval
from freshtrack_ops.restore.plan import plan_restore, plan_test_restore
from freshtrack_ops.restore.record import record_verification
from freshtrack_ops.steps.restore import COUNTS, DATABASE, HEALTH, LOAD, SERVICES, VERIFY


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateRestoreEvent)
def validate_test_restore(event: ValidateRestoreEvent, context: LambdaContext) -> dict[str, Any]:
    return plan_test_restore(event, runtime.targets(), runtime.catalog()).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateRestoreEvent)
def validate_restore(event: ValidateRestoreEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_restore(event, runtime.targets(), runtime.catalog(), runtime.lock_table().holder)
    logger.info("restore planned", extra={"host": plan.host, "backup_id": plan.backup.backup_id})
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ApprovalEvent)
def approval(event: ApprovalEvent, context: LambdaContext) -> dict[str, Any]:
    request_approval(event, runtime.approval_store(), runtime.notifier())
    logger.info("approval requested", extra={"host": event.plan.host, "backup_id": event.plan.backup.backup_id})
    return {"requested": True}


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


verify = host_handler(VERIFY)
database = host_handler(DATABASE)
load = host_handler(LOAD)
counts = host_handler(COUNTS)
services = host_handler(SERVICES)
health = host_handler(HEALTH)
