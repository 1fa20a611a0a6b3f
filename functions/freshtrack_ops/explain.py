"""Naming a caught error for the notification and the Fail state, and counting what ended how.

A Catch hands the next state ``{"Error": ..., "Cause": ...}``; the Cause of a Lambda error is its error envelope
(JSON), of a Step Functions error a sentence, of ``States.Timeout`` often nothing. ``explain`` turns that into
the error's name and a readable cause, and records one metric per outcome with the workflow as dimension, so the
counts say what happened (a rejected request is not a failed backup).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

from freshtrack_ops.redact import redact

Workflow = Literal[
    "backup",
    "test-restore",
    "restore",
    "update",
    "update-fleet",
    "rollback",
    "disaster-recovery",
    "capture-config",
    "remediation",
    "daily-check",
    "service",
    "os-update",
    "rotate-secrets",
    "db-pool",
    "scale",
    "drop-asides",
]
#: rejected: the request was refused before anything was touched; failed: the workflow failed (and cleaned up);
#: reverted: a restore failed after the drop and put the safety backup back; revert-failed: and that failed too
Outcome = Literal["rejected", "failed", "reverted", "revert-failed"]
METRIC_OF: dict[Outcome, str] = {
    "rejected": "RequestsRejected",
    "failed": "WorkflowsFailed",
    "reverted": "RestoresReverted",
    "revert-failed": "RestoreRevertsFailed",
}
_DEFAULT_CAUSES = {
    "States.Timeout": "the state did not finish (or was not answered) within its timeout",
    "States.HeartbeatTimeout": "the task stopped sending heartbeats",
    "States.TaskFailed": "the task failed without saying why",
}
#: A Fail state may not raise a ``States.*`` name, so the built-in errors are renamed.
_RENAMED = {"States.Timeout": "TimedOut", "States.HeartbeatTimeout": "TimedOut", "States.Runtime": "WorkflowError"}


class CaughtError(BaseModel):
    """What a Catch hands on (``ResultPath``): Step Functions' error name and, when there is one, its cause."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Error: str = "UnknownError"
    Cause: str | None = None


class ExplainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: Workflow
    outcome: Outcome
    error: CaughtError = CaughtError()


class Explanation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    error_name: str
    error_cause: str


def explain(event: ExplainEvent) -> Explanation:
    name, cause = error_fields(event.error)
    return Explanation(error_name=name, error_cause=cause)


def error_fields(error: CaughtError) -> tuple[str, str]:
    """(error name, cause) of a caught error, as the failure notification shows them. The cause is redacted:
    ours already are (errors.OpsError), but a cause may come from elsewhere (a Lambda runtime error, a
    service error) and the notification is an e-mail."""
    raw_name = error.Error
    name = _RENAMED.get(raw_name, raw_name.removeprefix("States."))
    cause_raw = error.Cause or _DEFAULT_CAUSES.get(raw_name, "no cause reported")
    try:
        cause_json = json.loads(cause_raw)
    except ValueError:
        return name, redact(cause_raw)
    if isinstance(cause_json, dict) and "errorMessage" in cause_json:
        return str(cause_json.get("errorType", name)), redact(str(cause_json["errorMessage"]))
    if isinstance(cause_json, dict) and "Status" in cause_json and "Error" in cause_json:
        # a workflow started with .sync failed: the cause is its DescribeExecution, with its own error and cause
        return str(cause_json["Error"]), redact(str(cause_json.get("Cause") or ""))
    return name, redact(cause_raw)
