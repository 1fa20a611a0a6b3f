"""The ExplainError task: name the caught error of a failure path, and count the outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops.explain import METRIC_OF, ExplainEvent, explain
from freshtrack_ops.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=ExplainEvent)
def explain_error(event: ExplainEvent, context: LambdaContext) -> dict[str, Any]:
    explanation = explain(event)
    metrics.add_dimension(name="workflow", value=event.workflow)
    metrics.add_metric(name=METRIC_OF[event.outcome], unit=MetricUnit.Count, value=1)
    logger.warning(
        f"{event.workflow} {event.outcome}", extra={"error": explanation.error_name, "cause": explanation.error_cause}
    )
    return explanation.model_dump()
