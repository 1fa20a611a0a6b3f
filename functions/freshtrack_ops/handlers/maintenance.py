"""Task handlers of the maintenance workflows (their host steps: handlers/maintenance_host.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.maintenance.models import MaintenanceOutcomeEvent, ValidateMaintenanceEvent
from freshtrack_ops.maintenance.plan import plan_maintenance
from freshtrack_ops.maintenance.record import describe
from freshtrack_ops.observability import logger, metrics, tracer

#: the metric the "host not back" alarm watches (stacks/maintenance_alarms.py)
HOST_NOT_BACK_METRIC = "MaintenanceHostNotBack"


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateMaintenanceEvent)
def validate(event: ValidateMaintenanceEvent, context: LambdaContext) -> dict[str, Any]:
    instances = runtime.instances() if event.workflow == "scale" else None
    plan = plan_maintenance(
        event, runtime.targets(), audit=runtime.audit_log(), now=datetime.now(UTC), instances=instances
    )
    logger.info(
        "maintenance planned",
        extra={"host": plan.host, "workflow": plan.workflow, "audit_id": plan.audit_id, "dry_run": plan.dry_run},
    )
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=MaintenanceOutcomeEvent)
def record(event: MaintenanceOutcomeEvent, context: LambdaContext) -> dict[str, Any]:
    """Close the audit entry the validator opened; count the outcome; the notification's words."""
    result = describe(event)
    plan = event.plan
    detail = result.message.splitlines()[0] if event.outcome in ("succeeded", "dry-run") else (
        f"{event.stage}: {result.error_name}: {result.error_cause}"
    )  # fmt: skip
    runtime.audit_log().complete(
        plan.host, plan.audit_id, event.outcome, detail[:500], now=datetime.now(UTC), execution_arn=event.execution_id
    )
    metrics.add_dimension(name="workflow", value=plan.workflow)
    metrics.add_dimension(name="host", value=plan.host)
    metrics.add_metric(name=f"Maintenance{event.outcome.title().replace('-', '')}", unit=MetricUnit.Count, value=1)
    if event.outcome == "host-lost":
        # the host dimension only: the alarm (stacks/maintenance_alarms.py) is one per target, whichever workflow
        with single_metric(
            name=HOST_NOT_BACK_METRIC, unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="service", value=metrics.service or "freshtrack-ops")
            metric.add_dimension(name="host", value=plan.host)
    logger.info(
        "maintenance recorded", extra={"audit_id": plan.audit_id, "outcome": event.outcome, "stage": event.stage}
    )
    return result.model_dump(mode="json")
