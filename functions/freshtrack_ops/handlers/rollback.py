"""Task handlers of the rollback workflow (its host steps are the update's)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.observability import logger, tracer
from freshtrack_ops.update.rollback import plan_rollback


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateBackupEvent)
def validate(event: ValidateBackupEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_rollback(event, runtime.targets(), runtime.deployment_history(), runtime.catalog())
    logger.info(
        "rollback planned",
        extra={"update_id": plan.update.update_id, "host": plan.update.host, "to": plan.to_version,
               "undoes": list(plan.undoes), "restore_backup_id": plan.restore_backup_id},
    )  # fmt: skip
    return plan.model_dump(mode="json")
