"""Release the host lock of an execution that ended without running its own cleanup.

A workflow releases its lock on every path it controls; an operator aborting the execution, or the
execution timing out, skips those paths. EventBridge reports those ends ("Step Functions Execution
Status Change"); the lock is released only if that very execution still owns it. SSM commands the
execution was still waiting for are cancelled (the agent stops the step), so an aborted execution stops its
work on the host too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from freshtrack_ops.config import HOST_ID_PATTERN
from freshtrack_ops.host_work import cancel_commands_of
from freshtrack_ops.ports import LockTable

ENDED_WITHOUT_CLEANUP = ("ABORTED", "TIMED_OUT")
#: a destructive workflow stopped half-way must not let the next scheduled workflow touch the host. A restore holds
#: its lock as ``restore-verify`` (not kept) while it only reads the backup and prepares next to the live database,
#: and takes it again as ``restore`` just before it stops the services or replaces the database (LockForSwap,
#: LockForReplace): an abort before that leaves the host as it was (its incoming database is dropped from the undo
#: log), so keeping the lock for the lease (2 h) only made the next backups fail LockHeld (found by tests/faults).
#: An update and a rollback do the same: ``update-prepare`` / ``rollback-prepare`` (not kept) while they run their
#: preflight (git fetch, no checkout), read the schema and images and take their pre-change backup (aborted, it is
#: cleaned up as an aborted backup's is), and ``update`` / ``rollback`` from LockForChange, the state just before the
#: first one that changes the host (update: Checkout, or Deploy for an image update; rollback: Down). Before, an
#: update stopped in its preflight kept the lock for its whole lease (4 h) and every backup meanwhile failed LockHeld
#: (the fault matrix's lock contention, a rollback holder stopped at its preflight).
KEEP_LOCKED_PURPOSES = {
    "restore": "services stopped, database replaced",
    "update": "code, containers or database between two versions",
    "rollback": "code, containers or database between two versions",
}
_HOST = re.compile(HOST_ID_PATTERN)


class ExecutionEnded(BaseModel):
    """The ``detail`` of an EventBridge "Step Functions Execution Status Change" event (fields we use)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    executionArn: str  # noqa: N815 - EventBridge's field name
    stateMachineArn: str = ""  # noqa: N815
    status: str
    input: str | None = None


class JanitorResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_arn: str
    status: str
    host: str | None
    released: bool
    reason: str


def release_orphaned_lock(detail: ExecutionEnded, locks: LockTable) -> JanitorResult:
    if detail.status not in ENDED_WITHOUT_CLEANUP:
        return JanitorResult(
            execution_arn=detail.executionArn,
            status=detail.status,
            host=None,
            released=False,
            reason="the workflow's own paths release the lock",
        )
    host = _host_of(detail.input)
    if host is None:
        return JanitorResult(
            execution_arn=detail.executionArn,
            status=detail.status,
            host=None,
            released=False,
            reason="the execution input names no valid host",
        )
    holder = locks.holder(host)
    if holder is None or holder[0] != detail.executionArn:
        return JanitorResult(
            execution_arn=detail.executionArn,
            status=detail.status,
            host=host,
            released=False,
            reason="this execution held no lock",
        )
    if holder[1] in KEEP_LOCKED_PURPOSES:
        return JanitorResult(
            execution_arn=detail.executionArn,
            status=detail.status,
            host=host,
            released=False,
            reason=(
                f"an interrupted {holder[1]} may have left the host half-way ({KEEP_LOCKED_PURPOSES[holder[1]]}): "
                "the lock is kept until its lease ends; see docs/runbooks.md"
            ),
        )
    released = locks.release(host, detail.executionArn)
    return JanitorResult(
        execution_arn=detail.executionArn,
        status=detail.status,
        host=host,
        released=released,
        reason="released the lock this execution still held" if released else "this execution held no lock",
    )


def janitor_message(detail: ExecutionEnded, host: str | None, work: str, lock: str) -> tuple[str, str]:
    """(subject, message) of the notification after an execution was aborted or timed out."""
    workflow = detail.stateMachineArn.rsplit(":", 1)[-1] or "a workflow"
    name = detail.executionArn.rsplit(":", 1)[-1]
    subject = f"FreshTrack Ops: {workflow} {detail.status} on {host or 'an unknown host'}"[:100]
    message = (
        f"The execution {name} of {workflow} on {host or 'an unknown host'} ended {detail.status}: its own "
        f"cleanup states did not run.\n\nCleaned up after it: {work}.\nHost lock: {lock}.\n\n"
        f"Execution: {detail.executionArn}"
    )
    return subject, message


def _host_of(execution_input: str | None) -> str | None:
    try:
        host = json.loads(execution_input or "{}").get("host")
    except (ValueError, AttributeError):
        return None
    return host if isinstance(host, str) and _HOST.match(host) else None


def cancel_pending_commands(
    detail: ExecutionEnded,
    pending_of: Callable[[str], list[tuple[str, str]]],
    cancel: Callable[[str, str], None],
) -> list[str]:
    """Cancel the SSM commands an aborted or timed-out execution still waited for; their ids."""
    if detail.status not in ENDED_WITHOUT_CLEANUP:
        return []
    return cancel_commands_of(detail.executionArn, pending_of, cancel)
