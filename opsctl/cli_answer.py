"""Commands that answer a running workflow: approve or reject a restore waiting for approval, halt a fleet update."""

from __future__ import annotations

from typing import Annotated

import typer

from opsctl.cli_query import resolve_execution
from opsctl.errors import InvalidArguments, NotFound
from opsctl.session import session

ExecutionArgument = Annotated[str, typer.Argument(help="the waiting execution's ARN or name")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _answer(ctx: typer.Context, execution: str, reason: str, *, approve: bool, json_flag: bool) -> None:
    from freshtrack_ops.adapters.approvals import DynamoApprovalStore
    from freshtrack_ops.adapters.task_callback import TaskCallback
    from freshtrack_ops.errors import BackupNotFound
    from freshtrack_ops.restore.approval import answer_approval

    current = session(ctx, json_flag)
    backend = current.backend()
    arn = resolve_execution(backend, execution)
    try:
        answer_approval(
            arn,
            approve=approve,
            reason=reason,
            store=DynamoApprovalStore(backend.client("dynamodb"), backend.table),
            callbacks=TaskCallback(backend.client("stepfunctions")),
        )
    except BackupNotFound as exc:  # answer_approval's "no pending approval" (the store has no token for it)
        raise NotFound(f"{exc} (answered already, timed out, or not waiting)") from None
    verb = "approved" if approve else "rejected"
    if current.json:
        current.emit_json({"execution_arn": arn, "answer": verb, "reason": reason})
    else:
        current.out.print(f"{verb} {arn}", markup=False)


def approve(
    ctx: typer.Context,
    execution: ExecutionArgument,
    reason: Annotated[str, typer.Option("--reason", help="recorded with the answer")] = "",
    json_flag: JsonFlag = False,
) -> None:
    """Approve a restore (or recovery) waiting for approval: it goes on."""
    _answer(ctx, execution, reason, approve=True, json_flag=json_flag)


def reject(
    ctx: typer.Context,
    execution: ExecutionArgument,
    reason: Annotated[str, typer.Option("--reason", help="recorded with the answer")] = "",
    json_flag: JsonFlag = False,
) -> None:
    """Reject a restore (or recovery) waiting for approval: it ends ApprovalRejected, nothing changed."""
    _answer(ctx, execution, reason, approve=False, json_flag=json_flag)


def halt_fleet(
    ctx: typer.Context,
    execution: Annotated[str, typer.Argument(help="the update-fleet execution's ARN or name")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded and notified)")],
    json_flag: JsonFlag = False,
) -> None:
    """Stop a fleet update from starting more hosts (the running host updates finish)."""
    from pydantic import ValidationError

    from freshtrack_ops.adapters.dynamo import DynamoFleetGate
    from freshtrack_ops.config import describe_validation_error
    from freshtrack_ops.fleet.models import FLEET_ITEM_KEEP_S, HaltEvent
    from freshtrack_ops.fleet.outcome import halt

    current = session(ctx, json_flag)
    if not reason.strip():  # refused before anything is looked up: a halt must say why
        raise InvalidArguments(f"reason: should say why the fleet update is halted (got {reason!r})")
    backend = current.backend()
    arn = resolve_execution(backend, execution)
    try:
        event = HaltEvent(action="halt", execution_id=arn, reason=reason)
    except ValidationError as exc:
        raise InvalidArguments(f"invalid input: {describe_validation_error(exc)}") from None
    # the same item and conditional update a failed host's halt uses: running updates finish, no other starts
    gate = DynamoFleetGate(backend.client("dynamodb"), backend.table, keep_seconds=FLEET_ITEM_KEEP_S)
    in_force = halt(event, gate)
    started = gate.started(arn)
    if current.json:
        current.emit_json(
            {"execution_arn": arn, "halted_by": in_force.by, "reason": in_force.reason, "started": started}
        )
        return
    current.out.print(f"halted {arn} ({in_force.by}: {in_force.reason})", markup=False)
    # a mistyped ARN halts nothing real: say so rather than let the operator believe the fleet stopped
    current.out.print(f"hosts started so far: {', '.join(started) or 'none (is this the fleet execution?)'}")
