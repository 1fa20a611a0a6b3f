"""Host tasks over every transport, and the completion of SSM commands.

Every host task waits with a task token (``lambda:invoke.waitForTaskToken``):

* SSH/local targets: the task runs at once and completes its own token (success, or failure named by the
  error class, exactly what a raised error would have named).
* SSM targets: the task sends the command, keeps the token with the command id (``adapters/pending.py``) and
  returns; Step Functions waits, not the Lambda. EventBridge's "EC2 Command Invocation Status-change
  Notification" invokes ``command_done``, which reads the result, lets the same step interpret it and completes
  the token.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.adapters.pending import PendingCommand
from freshtrack_ops.adapters.ssm import FINAL_INVOCATION_STATUSES
from freshtrack_ops.errors import OpsError
from freshtrack_ops.handlers.dispatch import complete_token, dispatch, host_handler, resolve_undo
from freshtrack_ops.models import CommandStatusEvent
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.base import AnyStep
from freshtrack_ops.steps.catalog import STEPS
from freshtrack_ops.steps.job_poll import JOB_POLL

__all__ = ["CommandNotRegistered", "CommandStillRunning", "command_done", "dispatch", "host_handler", "job_poll"]

#: invocation statuses after which the command will not change any more
FINAL_STATUSES = frozenset(FINAL_INVOCATION_STATUSES)


class CommandNotRegistered(Exception):
    """The completion event came before the sending task stored the command; raised so the event is retried."""


class CommandStillRunning(Exception):
    """SSM does not show the command's final status yet; raised so the event is retried."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=CommandStatusEvent)
def command_done(event: CommandStatusEvent, context: LambdaContext) -> dict[str, Any]:
    """EventBridge: an SSM command invocation changed status. Completes the waiting task once."""
    detail = event.detail
    if detail.status not in FINAL_STATUSES:
        return {"ignored": detail.status}
    commands = runtime.pending_commands()
    pending = commands.get(detail.command_id)
    if pending is None:
        raise CommandNotRegistered(f"command {detail.command_id}: no pending task (yet)")
    # the command has ended: the credentials it was given (host exchange object) are of no more use
    runtime.ssm_commands().discard_exchange(pending.exchange_key)
    if not pending.task_token:
        # an undo sent by StopHostWork or the janitor: nobody waits for it
        logger.info("undo command ended", extra={"command_id": pending.command_id, "status": detail.status})
        commands.delete(pending)
        return {"command_id": pending.command_id, "undo": detail.status}
    step = STEPS[pending.step]
    outcome = _outcome(pending)
    if outcome is None:
        raise CommandStillRunning(f"command {detail.command_id}: SSM still reports it running")
    if not commands.claim(pending.command_id):
        logger.info("duplicate completion ignored", extra={"command_id": pending.command_id})
        return {"duplicate": pending.command_id}
    result = _complete_command(step, pending, outcome)
    commands.delete(pending)
    return result


def _complete_command(step: AnyStep, pending: PendingCommand, outcome: CommandResult | OpsError) -> dict[str, Any]:
    """Interpret a finished command with its step and complete the waiting task (output or named error)."""
    try:
        target = runtime.targets().get(pending.host)
        event_model = step.model.model_validate_json(pending.event)
        step_context = step.context_model.model_validate_json(pending.context)
        if isinstance(outcome, OpsError):
            step.abandon(event_model, target, step_context)
            raise outcome
        try:
            output = step.finish(event_model, target, step_context, outcome)
        except BaseException:
            step.abandon(event_model, target, step_context)
            raise
    except Exception as exc:  # every failure must reach the waiting task, named
        logger.warning("host command failed", extra={"step": step.name, "error": type(exc).__name__})
        complete_token(pending.task_token, failure=exc)
        return {"command_id": pending.command_id, "error": type(exc).__name__}
    if step.has_metrics:
        step.record_metrics(event_model, target, output)
        metrics.flush_metrics()
    resolve_undo(step, event_model, output, pending.execution_id)
    if not complete_token(pending.task_token, output=output):
        # the execution stopped waiting (aborted, timed out): undo what the command left behind
        step.abandon(event_model, target, step_context)
    return {"command_id": pending.command_id, "completed": step.name}


def _outcome(pending: PendingCommand) -> CommandResult | OpsError | None:
    """The command's result, the named error of a command that did not run to an exit, or None (running)."""
    try:
        return runtime.ssm_commands().status(pending.command_id, pending.instance_id)
    except OpsError as exc:
        return exc


job_poll = host_handler(JOB_POLL)
