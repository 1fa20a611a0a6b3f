"""An execution's history as the operator reads it: each state with its duration, what failed and why, progress.

Pure functions over Step Functions' history events (``GetExecutionHistory``), so the live view, ``opsctl show``
and the tests read histories the same way, whether they came from AWS or from the local plane.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: states that only route or wait (the live view shows them dimmed; ``show --all`` lists them)
ROUTING_TYPES = ("Choice", "Pass", "Succeed", "Wait")


@dataclass
class Progress:
    """What a polled host job reports: parts of a dump or a load done so far."""

    step: str
    parts_done: int
    part_bytes: int | None

    @property
    def bytes_done(self) -> int | None:
        return self.parts_done * self.part_bytes if self.part_bytes else None


@dataclass
class StateStep:
    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    error: str | None = None
    cause: str | None = None
    progress: Progress | None = None

    @property
    def running(self) -> bool:
        return self.exited is None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def duration_s(self, now: datetime) -> float:
        return ((self.exited or now) - self.entered).total_seconds()


@dataclass
class Timeline:
    steps: list[StateStep] = field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None
    #: the execution's own end: SUCCEEDED / FAILED / ABORTED / TIMED_OUT (None: running)
    outcome: str | None = None
    error: str | None = None
    cause: str | None = None

    def current(self) -> StateStep | None:
        running = [step for step in self.steps if step.running]
        return running[-1] if running else None


_END_EVENTS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """The event's ``...EventDetails`` mapping (every history event has at most one)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def build(events: Iterable[dict[str, Any]]) -> Timeline:
    """The timeline of ``events`` (oldest first)."""
    timeline = Timeline()
    open_steps: dict[str, StateStep] = {}
    for event in events:
        kind: str = event["type"]
        details = _details(event)
        if kind == "ExecutionStarted":
            timeline.started = event["timestamp"]
        elif kind in _END_EVENTS:
            timeline.ended = event["timestamp"]
            timeline.outcome = _END_EVENTS[kind]
            timeline.error = details.get("error") or timeline.error
            timeline.cause = details.get("cause") or timeline.cause
        elif kind.endswith("StateEntered"):
            step = StateStep(name=details["name"], kind=kind.removesuffix("StateEntered"), entered=event["timestamp"])
            timeline.steps.append(step)
            open_steps[step.name] = step
        elif kind.endswith("StateExited"):
            step_done = open_steps.pop(details["name"], None)
            if step_done is not None:
                step_done.exited = event["timestamp"]
                step_done.progress = progress_of(details.get("output")) or step_done.progress
        elif kind.endswith("Failed") or kind.endswith("TimedOut") or kind.endswith("Aborted"):
            step_failed = _innermost_open(timeline.steps)
            if step_failed is not None and "error" in details:
                step_failed.error = details.get("error")
                step_failed.cause = details.get("cause")
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            step_polled = _innermost_open(timeline.steps)
            if step_polled is not None:
                step_polled.progress = progress_of(details.get("output")) or step_polled.progress
    return timeline


def _innermost_open(steps: list[StateStep]) -> StateStep | None:
    for step in reversed(steps):
        if step.running:
            return step
    return None


def progress_of(output: Any) -> Progress | None:
    """A host job's progress, when ``output`` (a state's or task's output JSON) carries a polled job."""
    if not isinstance(output, str) or '"parts_done"' not in output:
        return None
    try:
        document = json.loads(output)
    except ValueError:
        return None
    for job in _jobs(document):
        return Progress(
            step=str(job.get("step", "")),
            parts_done=int(job.get("parts_done") or 0),
            part_bytes=int(job.get("part_bytes") or 0) or None,
        )
    return None


def _jobs(document: Any) -> Iterator[dict[str, Any]]:
    """Every ``{"job": {...,"parts_done": N}}`` in ``document``, depth first."""
    if isinstance(document, dict):
        job = document.get("job")
        if isinstance(job, dict) and "parts_done" in job:
            yield job
        for value in document.values():
            yield from _jobs(value)
    elif isinstance(document, list):
        for value in document:
            yield from _jobs(value)


def collapsed(steps: list[StateStep]) -> list[tuple[StateStep, int]]:
    """Consecutive runs of one state (a host job's polls) as one step spanning them, with how many runs."""
    merged: list[tuple[StateStep, int]] = []
    for step in steps:
        if merged and merged[-1][0].name == step.name:
            first, runs = merged[-1]
            span = StateStep(
                name=step.name,
                kind=step.kind,
                entered=first.entered,
                exited=step.exited,
                error=step.error,
                cause=step.cause,
                progress=step.progress or first.progress,
            )
            merged[-1] = (span, runs + 1)
        else:
            merged.append((step, 1))
    return merged
