"""Task handlers of the update workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from freshtrack_ops import runtime
from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.steps.update import (
    CHECKOUT,
    DEPLOY,
    DOWN,
    IMAGES,
    PIN_IMAGES,
    SCHEMA,
    UPDATE_PREFLIGHT,
    VERIFY_DEPLOYMENT,
)
from freshtrack_ops.update.models import RecordDeploymentEvent
from freshtrack_ops.update.plan import plan_update
from freshtrack_ops.update.record import deployment_outcome, not_recorded


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateBackupEvent)
def validate(event: ValidateBackupEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_update(event, runtime.targets())
    logger.info("update planned", extra={"update_id": plan.update_id, "host": plan.host, "version": plan.version})
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=RecordDeploymentEvent)
def record(event: RecordDeploymentEvent, context: LambdaContext) -> dict[str, Any]:
    outcome, output = deployment_outcome(event)
    try:
        runtime.deployment_history().record_deployment(outcome)
    except (ClientError, BotoCoreError) as exc:
        # after the SDK's own retries (throttling, 5xx): the deployment happened (or was undone) all the same, so
        # the workflow goes on to unlock and notify, and the notification says the history lacks it (a raised
        # error here once ended a verified update FAILED States.Runtime, with no notification: tests/faults)
        logger.error("deployment not recorded", extra={"update_id": outcome.update_id, "error": type(exc).__name__})
        output = not_recorded(outcome, output, exc)
        metrics.add_metric(name="DeploymentsNotRecorded", unit=MetricUnit.Count, value=1)
    metrics.add_dimension(name="host", value=event.plan.host)
    if event.plan.kind == "rollback":
        name = "RollbacksSucceeded"
    else:
        name = "UpdatesSucceeded" if event.outcome == "succeeded" else "UpdatesRolledBack"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return output.model_dump(mode="json")


preflight = host_handler(UPDATE_PREFLIGHT)
schema = host_handler(SCHEMA)
checkout = host_handler(CHECKOUT)
deploy = host_handler(DEPLOY)
verify = host_handler(VERIFY_DEPLOYMENT)
down = host_handler(DOWN)
images = host_handler(IMAGES)
pin_images = host_handler(PIN_IMAGES)
