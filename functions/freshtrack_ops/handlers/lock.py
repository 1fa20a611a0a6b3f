"""The host lock task, shared by every mutating workflow."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from freshtrack_ops import runtime
from freshtrack_ops.errors import LockHeld
from freshtrack_ops.fields import HostRef, Strict
from freshtrack_ops.host_work import stop_host_work
from freshtrack_ops.lock_janitor import ENDED_WITHOUT_CLEANUP, ExecutionEnded, janitor_message, release_orphaned_lock
from freshtrack_ops.observability import logger, tracer
from freshtrack_ops.ports import LockTable


class LockEvent(Strict):
    """The HostLock task's input (the workflows' Acquire/Release states)."""

    action: Literal["acquire", "release"]
    host: HostRef
    owner: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    lease_seconds: int = Field(default=3600, ge=1, le=86_400)
    purpose: Annotated[str, StringConstraints(max_length=64)] = ""
    #: the lock is ``owner``'s already (a restore run as an update's rollback): acquire only checks that it
    #: still is, release leaves it to its owner
    skip: bool = False


class LockResult(Strict):
    """The HostLock task's output."""

    host: HostRef
    owner: str
    held: bool
    expires_at: int | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=LockEvent)
def handler(event: LockEvent, context: LambdaContext) -> dict[str, Any]:
    table = runtime.lock_table()
    if event.skip:
        return _held_by_owner(event, table)
    if event.action == "acquire":
        expires_at = table.acquire(event.host, event.owner, event.lease_seconds, event.purpose)
        logger.info("lock acquired", extra={"host": event.host, "expires_at": expires_at})
        return LockResult(host=event.host, owner=event.owner, held=True, expires_at=expires_at).model_dump()
    released = table.release(event.host, event.owner)
    logger.info("lock released", extra={"host": event.host, "released": released})
    return LockResult(host=event.host, owner=event.owner, held=False).model_dump()


def _held_by_owner(event: LockEvent, table: LockTable) -> dict[str, Any]:
    """A restore working under its parent update's lock: acquiring checks the parent still holds it (LockHeld
    otherwise), releasing leaves it to the parent."""
    holder = table.holder(event.host)
    if event.action == "acquire" and (holder is None or holder[0] != event.owner):
        raise LockHeld(f"host {event.host}: the lock is no longer held by {event.owner} (held by {holder})")
    logger.info("lock kept by its owner", extra={"host": event.host, "action": event.action})
    return LockResult(host=event.host, owner=event.owner, held=event.action == "acquire").model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def janitor(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge: an execution was aborted or timed out (its own cleanup states never ran): cancel the SSM
    commands it waited for, stop its host jobs, drop its scratch databases, free the host lock it may still
    hold, and say so in a notification."""
    detail = ExecutionEnded.model_validate(event.get("detail", {}))
    if detail.status not in ENDED_WITHOUT_CLEANUP:
        result = release_orphaned_lock(detail, runtime.lock_table())
        return result.model_dump() | {"cancelled_commands": [], "undone": [], "failed": []}
    work = stop_host_work(detail.executionArn)
    result = release_orphaned_lock(detail, runtime.lock_table())
    report = result.model_dump() | work.model_dump(include={"cancelled_commands", "undone", "failed"})
    logger.info("lock janitor", extra=report)
    notifier = runtime.notifier()
    if notifier is not None:
        notifier.publish(*janitor_message(detail, result.host, work.summary(), result.reason))
    return report


class StopWorkEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    #: running: SSM commands and host jobs (a failure path, before its own cleanup); all: scratch databases too
    scope: Literal["running", "all"] = "running"


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StopWorkEvent)
def stop_work(event: StopWorkEvent, context: LambdaContext) -> dict[str, Any]:
    """A workflow's failure path: stop what the execution still runs on the host before cleaning up (a failed
    Parallel branch stops the other branch's state, not the command or job that state started)."""
    report = stop_host_work(event.execution_id, ["job"] if event.scope == "running" else None)
    logger.info("host work stopped", extra=report.model_dump())
    return report.model_dump()
