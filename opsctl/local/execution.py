"""Executions as Step Functions reports them: status, output, error and the history of states."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class StateRun:
    name: str
    entered: datetime
    exited: datetime | None
    failed: bool = False

    @property
    def duration_s(self) -> float:
        return (self.exited - self.entered).total_seconds() if self.exited else 0.0


@dataclass
class Execution:
    """A finished (or, from ``start``, running) execution as Step Functions reports it."""

    arn: str
    workflow: str
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def duration_s(self) -> float:
        if self.started_at and self.stopped_at:
            return (self.stopped_at - self.started_at).total_seconds()
        return 0.0

    def states(self) -> list[StateRun]:
        """Each state entered, in order, with its duration (from the execution history)."""
        runs: list[StateRun] = []
        open_runs: dict[str, StateRun] = {}
        for event in self.history:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                name = event["stateEnteredEventDetails"]["name"]
                run = StateRun(name=name, entered=event["timestamp"], exited=None)
                runs.append(run)
                open_runs[name] = run
            elif kind.endswith("StateExited"):
                name = event["stateExitedEventDetails"]["name"]
                if name in open_runs:
                    open_runs.pop(name).exited = event["timestamp"]
            elif kind in ("TaskFailed", "LambdaFunctionFailed") and runs:
                runs[-1].failed = True
        return runs

    def state_names(self) -> list[str]:
        return [run.name for run in self.states()]

    def state_output(self, name: str) -> Any:
        """The output of the last run of state ``name`` (parsed JSON), or None if it never finished (e.g. the
        report of a failed update-fleet execution, whose Fail state has no output of its own)."""
        outputs = [
            event["stateExitedEventDetails"].get("output")
            for event in self.history
            if event["type"].endswith("StateExited") and event["stateExitedEventDetails"]["name"] == name
        ]
        return json.loads(outputs[-1]) if outputs and outputs[-1] is not None else None


def read_history(sfn: Any, execution_arn: str) -> Iterator[dict[str, Any]]:
    """Every event of the execution so far, page by page."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return
