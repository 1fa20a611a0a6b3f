"""The fleet's gate: may a host's nested update start, what did it do, and stop starting more after a failure.

A nested update's Task state hands on either its result (``{"execution_arn", "status", "output"}``, selected from
the integration's DescribeExecution) or the error its Catch caught. A child that FAILED, TIMED_OUT or was ABORTED
fails the Task with ``States.TaskFailed`` and the child's DescribeExecution (as JSON) as cause; an error of the
StartExecution call itself (``StepFunctions.*``) or the Task's own ``States.Timeout`` has a sentence or nothing.
"""

from __future__ import annotations

import json
from typing import Any

from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.fleet.models import (
    GOOD_STATUSES,
    MAX_CAUSE_CHARS,
    ClaimEvent,
    ClaimResult,
    HaltEvent,
    HostOutcome,
    RecordEvent,
)
from freshtrack_ops.ports import FleetGate, FleetHalt

#: the update workflow's Fail error for a failed update that was rolled back and verified
ROLLED_BACK = "RolledBack"
#: ... and for a host that already runs the requested version (nothing to do: not a failure of the fleet)
ALREADY_AT_VERSION = "AlreadyAtVersion"


def claim(event: ClaimEvent, gate: FleetGate) -> ClaimResult:
    halt = gate.claim(event.execution_id, event.host)
    if halt is None:
        return ClaimResult(go=True)
    return ClaimResult(go=False, outcome=skipped(event.host, halt))


def skipped(host: str, halt: FleetHalt | None, why: str = "") -> HostOutcome:
    reason = why or (f"updates stopped: {halt.reason}" if halt else "the fleet stopped")
    return HostOutcome(host=host, status="skipped", cause=f"not started: {reason}"[:MAX_CAUSE_CHARS])


def record(event: RecordEvent, gate: FleetGate) -> HostOutcome:
    """Classify the nested update's end; a failure halts the fleet (no further host starts)."""
    outcome = classify(event)
    if outcome.status not in GOOD_STATUSES:
        detail = f"{outcome.error}: {outcome.cause}" if outcome.cause else outcome.error
        gate.halt(event.execution_id, event.host, f"{event.host} {outcome.status} ({detail})"[:MAX_CAUSE_CHARS])
    return outcome


def halt(event: HaltEvent, gate: FleetGate) -> FleetHalt:
    return gate.halt(event.execution_id, "operator", f"halted by an operator: {event.reason}")


def classify(event: RecordEvent) -> HostOutcome:
    run = event.run
    expected_arn = _execution_arn(event.update_state_machine_arn, event.execution_name)
    if run.get("status") == "SUCCEEDED":
        raw = run.get("output")
        output: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return HostOutcome(
            host=event.host,
            status="succeeded",
            execution_arn=str(run.get("execution_arn") or expected_arn),
            version=str(output.get("to_version", "")),
        )
    if "Error" not in run:
        return HostOutcome(
            host=event.host,
            status="failed",
            execution_arn=expected_arn,
            error="UnknownOutcome",
            cause=f"the nested update's state handed on neither a result nor an error: {sorted(run)}",
        )
    name, cause = error_fields(CaughtError.model_validate(run))
    described = _described_child(run.get("Cause"))
    arn = str(described.get("ExecutionArn") or expected_arn)
    if name == ALREADY_AT_VERSION:
        return HostOutcome(host=event.host, status="current", execution_arn=arn, error=name, cause=_short(cause))
    status = "rolled-back" if name == ROLLED_BACK else "failed"
    if described.get("Status") in ("ABORTED", "TIMED_OUT"):
        cause = f"the update execution was {described['Status']}: {cause}"
    return HostOutcome(host=event.host, status=status, execution_arn=arn, error=name, cause=_short(cause))


def _described_child(cause: Any) -> dict[str, Any]:
    """The child's DescribeExecution when the cause is one (a .sync child that did not succeed), else {}."""
    try:
        described = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        return {}
    return described if isinstance(described, dict) and "Status" in described else {}


def _execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named ``name`` of that state machine has (known before it exists)."""
    head, sep, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{name}" if sep else ""


def _short(text: str) -> str:
    return text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 1] + "…"
