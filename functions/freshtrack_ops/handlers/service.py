"""Task handlers of the service workflow (its host step: handlers/service_host.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import StringConstraints

from freshtrack_ops import runtime
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.service.models import ServiceOutcome, ValidateServiceEvent
from freshtrack_ops.service.plan import plan_service
from freshtrack_ops.service.record import record_outcome


class RecordEvent(ServiceOutcome):
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateServiceEvent)
def validate(event: ValidateServiceEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_service(event, runtime.targets(), audit=runtime.audit_log(), now=datetime.now(UTC))
    logger.info(
        "service operation planned", extra={"host": plan.host, "action": plan.action, "audit_id": plan.audit_id}
    )
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=RecordEvent)
def record(event: RecordEvent, context: LambdaContext) -> dict[str, Any]:
    result = record_outcome(event, audit=runtime.audit_log(), now=datetime.now(UTC), execution_id=event.execution_id)
    metrics.add_dimension(name="action", value=event.plan.action)
    metrics.add_metric(name=f"Service{event.outcome.title().replace('-', '')}", unit=MetricUnit.Count, value=1)
    logger.info("service operation recorded", extra={"audit_id": event.plan.audit_id, "outcome": event.outcome})
    return result.model_dump(mode="json")
