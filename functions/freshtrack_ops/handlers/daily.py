"""Task handlers of the daily-check workflow (its host step: handlers/daily_host.py): validate the request, and
judge what the host reported into the day's report (S3: JSON and HTML; the ops table: the day's figures; EMF:
every figure; the notification's subject and message)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import StringConstraints

from freshtrack_ops import runtime
from freshtrack_ops.daily.models import DailyCheckRequest, DailyFacts, DailyPlan, ValidateDailyEvent
from freshtrack_ops.daily.run import DailyInputs, run_daily_report
from freshtrack_ops.explain import CaughtError
from freshtrack_ops.fields import Strict
from freshtrack_ops.models import HealthResult
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.requests import parse_request


class ReportEvent(Strict):
    plan: DailyPlan
    facts: DailyFacts | None = None
    collect_error: CaughtError | None = None
    health: HealthResult | None = None
    health_error: CaughtError | None = None
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateDailyEvent)
def validate(event: ValidateDailyEvent, context: LambdaContext) -> dict[str, Any]:
    request, target = parse_request(DailyCheckRequest, event.request, runtime.targets())
    day = event.started_at.astimezone(UTC).date().isoformat()
    plan = DailyPlan(host=target.id, date=day, trigger=request.trigger, reason=request.reason)
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=ReportEvent)
def report(event: ReportEvent, context: LambdaContext) -> dict[str, Any]:
    target = runtime.targets().get(event.plan.host)
    inputs = DailyInputs(
        facts=event.facts.facts if event.facts is not None else None,
        collect_error=event.collect_error,
        health=event.health,
        health_error=event.health_error,
    )
    outcome = run_daily_report(
        target, event.plan, inputs, runtime.daily_ports(), now=datetime.now(UTC), execution_id=event.execution_id
    )
    metrics.add_dimension(name="host", value=target.id)
    for name, value in outcome.report.figures.items():
        metrics.add_metric(name=name, unit=_unit(name), value=value)
    logger.info(
        "daily report written", extra={"host": target.id, "verdict": outcome.report.verdict, "key": outcome.html_key}
    )
    return outcome.output()


def _unit(name: str) -> MetricUnit:
    """EMF units of the figures; hours and days have no unit of their own in CloudWatch: the names say them."""
    if name.endswith("Percent"):
        return MetricUnit.Percent
    if name.endswith("Bytes"):
        return MetricUnit.Bytes
    return MetricUnit.Count
