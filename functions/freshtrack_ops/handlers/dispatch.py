"""Host tasks over every transport: what each host step's Lambda handler runs (``host_handler``).

Every host task waits with a task token (``lambda:invoke.waitForTaskToken``):

* SSH/local targets: the task runs at once and completes its own token (success, or failure named by the
  error class, exactly what a raised error would have named).
* SSM targets: the task sends the command, keeps the token with the command id (``adapters/pending.py``) and
  returns; Step Functions waits, not the Lambda. The completion of SSM commands is ``handlers/host.py``
  (``command_done``), which lets the same step interpret the result.

A handler module imports this and its own steps only (cold starts): not the completion handler's models and SSM
adapter, nor the steps of other workflows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from freshtrack_ops import jobs, runtime
from freshtrack_ops.config import SsmTarget, Target, describe_validation_error
from freshtrack_ops.errors import InvalidInput, OpsError
from freshtrack_ops.jobs import Mode
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.steps.base import AnyStep

#: what the state adds to every host task's payload, besides the step's own event
_CALL_FIELDS = frozenset({"task_token", "execution_id"})
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def host_handler(step: AnyStep) -> Handler:
    """The Lambda handler of one host step (what ``TASKS`` points at)."""

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return dispatch(step, event, context)

    handle.__name__ = f"{step.name}_handler"
    # only steps that emit metrics flush them (an empty flush warns on every invocation)
    flushed = metrics.log_metrics(handle) if step.has_metrics else handle
    handler: Handler = logger.inject_lambda_context(tracer.capture_lambda_handler(capture_response=False)(flushed))
    handler.host_step = step  # type: ignore[attr-defined] # for state_machines.state_map (the docs' table)
    return handler


def dispatch(step: AnyStep, raw: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
    """Run (SSH, local) or send (SSM) one host step, and complete the state's task token."""
    token = raw.get("task_token")
    if not isinstance(token, str) or not token:
        raise InvalidInput(f"task_token: a {step.name} task needs the task token of its state")
    execution_id = str(raw.get("execution_id") or "")
    try:
        event = _parse(step.model, {key: value for key, value in raw.items() if key not in _CALL_FIELDS})
        target = runtime.targets().get(step.host(event))
        mode = _mode(step, event, target, context)
        if isinstance(target, SsmTarget):
            command_id = _send(step, event, target, token, execution_id=execution_id, mode=mode)
            logger.info(
                "command sent", extra={"step": step.name, "host": target.id, "command_id": command_id, "mode": mode}
            )
            _count(step, "HostCommandsSent", target.id)
            return {"command_id": command_id}

        def record(step_context: BaseModel) -> None:
            _record_undo(step, event, target, step_context, execution_id)

        with runtime.runner(target) as runner:
            output = step.run(event, target, runner, mode, record)
    except OpsError as exc:
        logger.warning("host task failed", extra={"step": step.name, "error": type(exc).__name__})
        _count(step, "HostStepsFailed", None)  # the host may be what was refused: no dimension from input
        complete_token(token, failure=exc)
        return {"error": type(exc).__name__}
    step.record_metrics(event, target, output)
    resolve_undo(step, event, output, execution_id)
    if not complete_token(token, output=output):
        step.discard(event, target, output)
        return {"completed": step.name, "discarded": True}
    return {"completed": step.name, "mode": mode}


def _count(step: AnyStep, name: str, host: str | None) -> None:
    """One more ``name``, for handlers that flush metrics (a flush with none warns; a handler that never
    flushes must not add any, or they pile up across warm invocations)."""
    if step.has_metrics:
        if host:
            metrics.add_dimension(name="host", value=host)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _mode(step: AnyStep, event: BaseModel, target: Target, context: LambdaContext | None) -> Mode:
    """Inline or a host job: the step's estimate against the budget of this transport — over SSH the time this
    invocation has left (Lambda stops it at its timeout), over SSM the step's own limit (URL validity,
    the document's execution timeout)."""
    estimate = step.estimate_s(event, target)
    if estimate is None:
        return "inline"
    if isinstance(target, SsmTarget):
        budget = step.ssm_budget_s()
    else:
        budget = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    mode = jobs.choose_mode(estimate, budget)
    logger.info(
        "data path", extra={"step": step.name, "estimate_s": round(estimate, 1), "budget_s": budget, "mode": mode}
    )
    return mode


def _record_undo(step: AnyStep, event: BaseModel, target: Target, context: BaseModel, execution_id: str) -> None:
    entry = step.undo_entry(event, target, context)
    if entry is not None and execution_id:
        runtime.undo_log().record(execution_id, entry)


def resolve_undo(step: AnyStep, event: BaseModel, output: BaseModel, execution_id: str) -> None:
    keys = step.resolved_keys(event, output)
    if keys and execution_id:
        runtime.undo_log().resolve(execution_id, keys)


def _send(step: AnyStep, event: BaseModel, target: SsmTarget, token: str, *, execution_id: str, mode: Mode) -> str:
    command, context = step.prepare(event, target, mode)
    ssm = runtime.ssm_commands()
    try:
        _record_undo(step, event, target, context, execution_id)
        command_id = ssm.send(target, command.script, command.env)
    except BaseException:
        step.abandon(event, target, context)
        entry = step.undo_entry(event, target, context)
        if entry is not None and execution_id:
            with contextlib.suppress(Exception):
                runtime.undo_log().resolve(execution_id, [entry.key])
        raise
    from freshtrack_ops.adapters.pending import PendingCommand  # SSM targets only

    pending = PendingCommand(
        command_id=command_id,
        instance_id=target.instance_id,
        task_token=token,
        step=step.name,
        host=target.id,
        event=event.model_dump_json(),
        context=context.model_dump_json(),
        execution_id=execution_id,
        exchange_key=ssm.take_exchange_key(command_id),
    )
    try:
        runtime.pending_commands().put(pending)
    except BaseException:
        # nobody could complete the task: stop the command and undo what it started
        with contextlib.suppress(Exception):
            ssm.cancel(command_id, target.instance_id)
        ssm.discard_exchange(pending.exchange_key)
        step.abandon(event, target, context)
        raise
    return command_id


def _parse(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc


#: SendTask* errors meaning nobody waits for this token any more
_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def complete_token(token: str, *, output: BaseModel | None = None, failure: Exception | None = None) -> bool:
    """Complete a waiting task; False when the execution no longer waits (it was aborted or timed out).
    The step's result becomes the task output here, once."""
    callback = runtime.task_callback()
    try:
        if failure is not None:
            callback.fail(token, failure)
        else:
            callback.succeed(token, output.model_dump(mode="json") if output is not None else {})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _GONE:
            raise
        logger.warning("no execution waits for this task any more")
        return False
    return True
