"""Task handlers of the remediation workflow (its host steps: handlers/remediation_host.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import StringConstraints

from freshtrack_ops import runtime
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.remediation.models import RemediationOutcome, ValidateRemediationEvent
from freshtrack_ops.remediation.plan import plan_remediation
from freshtrack_ops.remediation.record import record_outcome


class RecordEvent(RemediationOutcome):
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def _escalate(subject: str, message: str) -> None:
    """An escalation is a notification of its own (and the metric CDK alarms on), never the remediation's outcome:
    SNS failing (after the SDK's retries) is logged and changes nothing else. It once failed the record task,
    leaving the audit entry open and ending the remediation AuditNotWritten instead of RemediationFailed
    (tests/faults); the metric, flushed first, still raises the alarm."""
    metrics.add_metric(name="RemediationEscalations", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()  # now: validate flushes no metrics of its own (an empty flush warns)
    notifier = runtime.notifier()
    if notifier is None:
        return
    try:
        notifier.publish(subject, message)
    except (ClientError, BotoCoreError) as exc:
        logger.error("escalation not notified", extra={"subject": subject, "error": type(exc).__name__})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateRemediationEvent)
def validate(event: ValidateRemediationEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_remediation(
        event, runtime.targets(), guard=runtime.remediation_guard(), audit=runtime.audit_log(), now=datetime.now(UTC),
        escalate=_escalate,
    )  # fmt: skip
    logger.info(
        "remediation planned",
        extra={"host": plan.host, "action": plan.action, "route": plan.route, "audit_id": plan.audit_id},
    )
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=RecordEvent)
def record(event: RecordEvent, context: LambdaContext) -> dict[str, Any]:
    settings = runtime.targets().get(event.plan.host).remediation
    result = record_outcome(
        event, settings, guard=runtime.remediation_guard(), audit=runtime.audit_log(), now=datetime.now(UTC),
        escalate=_escalate, execution_id=event.execution_id,
    )  # fmt: skip
    metrics.add_dimension(name="action", value=event.plan.action)
    metrics.add_metric(name=f"Remediation{event.outcome.title().replace('-', '')}", unit=MetricUnit.Count, value=1)
    logger.info("remediation recorded", extra={"audit_id": event.plan.audit_id, "outcome": event.outcome})
    return result.model_dump(mode="json")
