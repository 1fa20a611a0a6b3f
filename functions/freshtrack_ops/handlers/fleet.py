"""Task handlers of the update-fleet workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.config import describe_validation_error
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.fleet.models import ClaimEvent, GateEvent, HaltEvent, ReportEvent, ValidateFleetEvent
from freshtrack_ops.fleet.outcome import claim, halt, record
from freshtrack_ops.fleet.plan import plan_fleet
from freshtrack_ops.fleet.report import fleet_report
from freshtrack_ops.observability import logger, metrics, tracer

_GATE_EVENT: TypeAdapter[Any] = TypeAdapter(GateEvent)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateFleetEvent)
def validate(event: ValidateFleetEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_fleet(event, runtime.targets())
    logger.info(
        "fleet update planned",
        extra={
            "fleet": plan.fleet,
            "version": plan.update.version,
            "canary": plan.canary.host,
            "rest": [member.host for member in plan.rest],
            "max_concurrency": plan.max_concurrency,
        },
    )
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def gate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``claim``: may this host's update start; ``record``: its update ended (a failure halts the fleet);
    ``halt``: an operator stops the fleet from starting more (running updates finish)."""
    try:
        parsed = _GATE_EVENT.validate_python(event)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
    fleet_gate = runtime.fleet_gate()
    if isinstance(parsed, ClaimEvent):
        claimed = claim(parsed, fleet_gate)
        logger.info("fleet claim", extra={"host": parsed.host, "go": claimed.go})
        return claimed.model_dump(mode="json")
    if isinstance(parsed, HaltEvent):
        in_force = halt(parsed, fleet_gate)
        logger.warning("fleet halted", extra={"by": in_force.by, "reason": in_force.reason})
        return {"halted_by": in_force.by, "reason": in_force.reason}
    outcome = record(parsed, fleet_gate)
    logger.info("fleet host done", extra=outcome.model_dump())
    return outcome.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=ReportEvent)
def report(event: ReportEvent, context: LambdaContext) -> dict[str, Any]:
    result = fleet_report(event, runtime.fleet_gate().halted(event.plan.execution_id))
    metrics.add_metric(
        name="FleetUpdatesSucceeded" if result.succeeded else "FleetUpdatesFailed", unit=MetricUnit.Count, value=1
    )
    logger.info("fleet update report", extra={"fleet": result.fleet, "counts": result.counts})
    return result.model_dump(mode="json")
