"""The host lock task, shared by every mutating workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.handlers._common import logger, tracer
from freshtrack_ops.lock_janitor import ExecutionEnded, cancel_pending_commands, release_orphaned_lock
from freshtrack_ops.models import LockEvent, LockResult


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=LockEvent)
def handler(event: LockEvent, context: LambdaContext) -> dict[str, Any]:
    table = runtime.lock_table()
    if event.action == "acquire":
        expires_at = table.acquire(event.host, event.owner, event.lease_seconds, event.purpose)
        logger.info("lock acquired", extra={"host": event.host, "expires_at": expires_at})
        return LockResult(host=event.host, owner=event.owner, held=True, expires_at=expires_at).model_dump()
    released = table.release(event.host, event.owner)
    logger.info("lock released", extra={"host": event.host, "released": released})
    return LockResult(host=event.host, owner=event.owner, held=False).model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def janitor(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge: an execution was aborted or timed out; cancel the SSM commands it waited for and free the
    host lock it may still hold."""
    detail = ExecutionEnded.model_validate(event.get("detail", {}))
    cancelled = cancel_pending_commands(detail, runtime.pending_commands().of_execution, _cancel)
    result = release_orphaned_lock(detail, runtime.lock_table())
    logger.info("lock janitor", extra=result.model_dump() | {"cancelled_commands": cancelled})
    return result.model_dump() | {"cancelled_commands": cancelled}


def _cancel(command_id: str, instance_id: str) -> None:
    runtime.ssm_commands().cancel(command_id, instance_id)
