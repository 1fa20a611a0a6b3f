"""Approval of a destructive restore: the task token is kept in the approval store (never in a message or
log); the notification says what will be replaced by what and how to answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from freshtrack_ops.errors import ApprovalRejected, BackupNotFound
from freshtrack_ops.models import ApprovalEvent
from freshtrack_ops.ports import ApprovalStore, Notifier, PendingApproval, TaskCallbacks


class _Backup(Protocol):
    @property
    def backup_id(self) -> str: ...


class AwaitsApproval(Protocol):
    """What a plan that waits for an approval says about itself (a restore's, a recovery's)."""

    @property
    def execution_id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def backup(self) -> _Backup: ...
    @property
    def approval_timeout_s(self) -> int: ...


def keep_and_ask(
    plan: AwaitsApproval,
    task_token: str,
    store: ApprovalStore,
    notifier: Notifier | None,
    *,
    subject: str,
    message: str,
    clock: Callable[[], float] = time.time,
) -> str:
    """Keep the task token (never in a message or log) until an operator answers or the window ends, and ask: how
    every workflow that waits for an approval asks for it (restore, a recovery's DNS change). The message sent,
    with how to answer appended."""
    store.put(
        PendingApproval(
            execution_id=plan.execution_id,
            task_token=task_token,
            host=plan.host,
            backup_id=plan.backup.backup_id,
            expires_at=int(clock()) + plan.approval_timeout_s,
        )
    )
    message += (
        f"\nApprove:  opsctl approve {plan.execution_id}\nReject:   opsctl reject {plan.execution_id} --reason '...'"
    )
    if notifier is not None:
        notifier.publish(subject, message)
    return message


def request_approval(
    event: ApprovalEvent, store: ApprovalStore, notifier: Notifier | None, clock: Callable[[], float] = time.time
) -> str:
    """Keep the task token until an operator answers (or the window ends), and ask; the message sent."""
    plan = event.plan
    return keep_and_ask(
        plan,
        event.task_token,
        store,
        notifier,
        clock=clock,
        subject="FreshTrack restore needs approval",
        message=(
            f"APPROVAL NEEDED: restore database {plan.database!r} on host {plan.host!r} from backup "
            f"{plan.backup.backup_id} (s3 key {plan.backup.dump_key}). The current database will be DROPPED and "
            f"replaced; a safety backup {plan.safety.backup_id} is taken first and restored automatically if "
            f"anything fails. Reason: {plan.reason or '(none given)'}.\n"
            f"Without an answer within {plan.approval_timeout_s} s the restore is aborted and nothing is touched."
        ),
    )


def answer_approval(
    execution_id: str, *, approve: bool, reason: str, store: ApprovalStore, callbacks: TaskCallbacks
) -> None:
    """Approve or reject a waiting restore (used by ``opsctl approve|reject`` and the local plane)."""
    pending = store.get(execution_id)
    if pending is None:
        raise BackupNotFound(f"execution: no pending approval for {execution_id}")
    if approve:
        callbacks.succeed(pending.task_token, {"approved": True, "reason": reason})
    else:
        callbacks.fail(pending.task_token, ApprovalRejected(reason or "rejected by an operator"))
    store.delete(execution_id)
