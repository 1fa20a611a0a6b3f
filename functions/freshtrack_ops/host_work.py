"""Stop what an execution still has running on its hosts: SSM commands it waits for, detached host jobs, and
(after an abort or a timeout) the scratch databases it created.

Used by the ``StopHostWork`` task on the workflows' failure paths — a failed Parallel branch stops the other
branch's state, but not the command or job that state started on the host — and by the lock janitor after an
execution was ABORTED or TIMED_OUT (an execution that reaches its own TimeoutSeconds runs no Catch at all).
Each undo entry is undone on its own: one that fails stays in the log (the next run retries it) and is
reported, the others still run. Jobs go first, so a scratch database is not dropped under a running load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict

from freshtrack_ops import runtime
from freshtrack_ops.adapters.pending import PendingCommand
from freshtrack_ops.adapters.undo_log import UndoEntry, UndoKind
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.errors import HostCommandFailed
from freshtrack_ops.host_command import tail

#: the order in which undo entries are undone
_ORDER: dict[str, int] = {"job": 0, "scratch": 1, "instance": 2}


class StopReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_id: str
    cancelled_commands: list[str]
    undone: list[str]
    failed: list[str]

    def summary(self) -> str:
        parts = []
        if self.cancelled_commands:
            parts.append(f"cancelled SSM commands {', '.join(self.cancelled_commands)}")
        if self.undone:
            parts.append(f"undone {', '.join(self.undone)}")
        if self.failed:
            parts.append(f"COULD NOT undo {', '.join(self.failed)}")
        return "; ".join(parts) or "nothing was left running"


def stop_host_work(execution_id: str, kinds: Iterable[UndoKind] | None = None) -> StopReport:
    """Cancel the execution's pending SSM commands and undo its undo-log entries (of ``kinds``; all if None)."""
    cancelled = cancel_commands_of(execution_id, runtime.pending_commands().of_execution, _cancel)
    undone: list[str] = []
    failed: list[str] = []
    log = runtime.undo_log()
    for entry in sorted(log.of_execution(execution_id, kinds), key=lambda e: _ORDER.get(e.kind, 9)):
        try:
            undo_entry(entry)
        except Exception as exc:  # one stuck entry must not keep the others running
            failed.append(f"{entry.key} ({type(exc).__name__}: {exc})"[:300])
            continue
        log.resolve(execution_id, [entry.key])
        undone.append(entry.key)
    return StopReport(execution_id=execution_id, cancelled_commands=cancelled, undone=undone, failed=failed)


def cancel_commands_of(
    execution_id: str, pending_of: Callable[[str], list[tuple[str, str]]], cancel: Callable[[str, str], None]
) -> list[str]:
    """Cancel the SSM commands the execution still waits for; their completion events then undo what each
    started (the step's abandon), as for any failed command. Returns their ids."""
    cancelled = []
    for command_id, instance_id in pending_of(execution_id):
        cancel(command_id, instance_id)
        cancelled.append(command_id)
    return cancelled


def _cancel(command_id: str, instance_id: str) -> None:
    runtime.ssm_commands().cancel(command_id, instance_id)


def undo_entry(entry: UndoEntry) -> None:
    """Undo one entry: its step's S3 side first, then the host command it names (sent without waiting over
    SSM; the completion of such a command completes no task)."""
    from freshtrack_ops.steps.catalog import STEPS  # the entry's step module only

    if entry.kind == "instance":
        _terminate_tagged(entry)
        return
    step = STEPS.get(entry.step)
    if step is None:
        raise HostCommandFailed(f"undo {entry.key}: unknown step {entry.step!r}")
    target = runtime.targets().get(entry.host)
    command = step.undo(entry, target)
    if command is None:
        return
    if isinstance(target, SsmTarget):
        ssm = runtime.ssm_commands()
        command_id = ssm.send(target, command.script, command.env)
        # recorded without a task token: its completion event finds it and completes nothing (if this put
        # fails, the entry stays and is undone again: job_cancel.sh and drop-scratch are repeatable)
        runtime.pending_commands().put(
            PendingCommand(
                command_id=command_id,
                instance_id=target.instance_id,
                task_token="",
                step=entry.step,
                host=target.id,
                event=entry.event,
                exchange_key=ssm.take_exchange_key(command_id),
            )
        )
        return
    with runtime.runner(target) as runner:
        result = command.run(runner)
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: {command.script} exited {result.exit_code}: {tail(result.stderr)}")


def _terminate_tagged(entry: UndoEntry) -> None:
    """A drill's instance: every instance tagged with its DR id (``event`` is the DR id), terminated, and its
    registration as a replacement forgotten (``context`` is the replacement id)."""
    from freshtrack_ops.adapters.ec2 import Ec2Instances
    from freshtrack_ops.dr.models import DR_ID_TAG

    ec2 = Ec2Instances(runtime.client("ec2"), runtime.client("ssm"))
    ec2.terminate(sorted(view.instance_id for view in ec2.tagged(DR_ID_TAG, entry.event)))
    runtime.server_registry().forget(entry.context)
