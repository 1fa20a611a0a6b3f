"""The shapes of opsctl's ``--json`` output, for scripts (published as docs/schemas/cli-*.json).

The commands build their JSON through these models, so what they print always matches what is published."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StateRow(_Shape):
    state: str = Field(description="the state's name in the ASL definition")
    type: str = Field(description="Task, Choice, Parallel, Map, Pass, Wait, Succeed or Fail")
    entered: datetime
    exited: datetime | None = Field(description="null while it runs")
    duration_s: float
    status: Literal["running", "succeeded", "failed"] = Field(
        description="failed: the state raised an error (caught or not)"
    )
    error: str | None = Field(description="the error name (the ASL error the workflows catch)")
    cause: str | None
    progress: dict[str, Any] | None = Field(description="a polled host job's parts_done and bytes_done")


class ExecutionDocument(_Shape):
    """``opsctl show --json``, ``opsctl start --wait --json``."""

    execution_arn: str
    name: str
    workflow: str | None = Field(description="null for an execution of a state machine that is not a workflow")
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    started: datetime | None
    stopped: datetime | None
    input: Any
    output: Any
    error: str | None
    cause: str | None
    next_steps: list[str] = Field(description="what the error means, what to do now, the runbook")
    states: list[StateRow]


class StartedExecution(_Shape):
    """``opsctl start WORKFLOW --json`` (without --wait)."""

    execution_arn: str
    workflow: str
    input: dict[str, Any] = Field(description="the validated execution input")


class ExecutionRow(_Shape):
    """One item of ``opsctl executions --json``."""

    workflow: str
    host: str = Field(description="the input's host ('fleet' for a fleet update; '' when it names none)")
    status: str
    name: str
    execution_arn: str
    started: datetime
    stopped: datetime | None
    error: str | None


class BackupRow(_Shape):
    """One item of ``opsctl backups --json``."""

    host: str
    backup_id: str
    finished_at: str
    size_bytes: int
    compression: str
    verification: Literal["unverified", "passed", "failed"]
    verified_at: str | None
    retention: str = Field(description="the dump's retention tag: expiring, protected ('' if untagged)")
    dump_key: str


class DeploymentRow(_Shape):
    """One item of ``opsctl deployments --json``: a recorded update, rollback or image update."""

    host: str
    update_id: str
    kind: str
    undoes: list[str]
    from_version: str
    from_commit: str
    to_version: str
    to_commit: str
    backup_id: str
    schema_changed: bool
    outcome: str
    duration_s: float


#: schema file name (docs/schemas/cli-<name>.json) -> model; list outputs are arrays of the model
CLI_OUTPUTS: dict[str, tuple[type[BaseModel], bool]] = {
    "execution": (ExecutionDocument, False),
    "started": (StartedExecution, False),
    "executions": (ExecutionRow, True),
    "backups": (BackupRow, True),
    "deployments": (DeploymentRow, True),
}


def json_schema(name: str) -> dict[str, Any]:
    model, many = CLI_OUTPUTS[name]
    schema = model.model_json_schema()
    if not many:
        return schema
    defs = schema.pop("$defs", {})
    document: dict[str, Any] = {"title": f"opsctl {name} --json", "type": "array", "items": schema}
    if defs:
        document["$defs"] = defs
    return document
