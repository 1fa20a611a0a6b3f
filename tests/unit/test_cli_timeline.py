"""opsctl's reading of execution histories: states, failures, a host job's progress; and its advice's runbooks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from opsctl import advice, render, timeline

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _event(kind: str, second: float, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": T0 + timedelta(seconds=second)}
    if details:
        key = kind[0].lower() + kind[1:]
        if kind.endswith("StateEntered"):
            key = "stateEntered"
        elif kind.endswith("StateExited"):
            key = "stateExited"
        event[f"{key}EventDetails"] = details
    return event


def _poll_output(parts: int) -> str:
    return json.dumps({"job": {"step": "dump", "parts_done": parts, "part_bytes": 8 * 1024 * 1024, "event": "{}"}})


HISTORY = [
    _event("ExecutionStarted", 0, input="{}"),
    _event("TaskStateEntered", 0, name="AcquireLock"),
    _event("TaskSucceeded", 0.5, output="{}"),
    _event("TaskStateExited", 0.5, name="AcquireLock", output="{}"),
    _event("TaskStateEntered", 0.5, name="StreamDumpPollJob"),
    _event("TaskStateExited", 2.0, name="StreamDumpPollJob", output=_poll_output(3)),
    _event("ChoiceStateEntered", 2.0, name="StreamDumpIsJob"),
    _event("ChoiceStateExited", 2.0, name="StreamDumpIsJob"),
    _event("TaskStateEntered", 2.0, name="StreamDumpPollJob"),
    _event("TaskStateExited", 4.0, name="StreamDumpPollJob", output=_poll_output(5)),
    _event("TaskStateEntered", 4.0, name="WriteManifest"),
    _event("TaskFailed", 4.5, error="UploadFailed", cause="S3 said no"),
    _event("TaskStateExited", 4.5, name="WriteManifest", output="{}"),
    _event("ExecutionFailed", 5.0, error="UploadFailed", cause="S3 said no"),
]


def test_a_history_reads_as_states_with_durations_failures_and_progress() -> None:
    line = timeline.build(HISTORY)
    assert [step.name for step in line.steps] == [
        "AcquireLock",
        "StreamDumpPollJob",
        "StreamDumpIsJob",
        "StreamDumpPollJob",
        "WriteManifest",
    ]
    assert line.outcome == "FAILED" and line.error == "UploadFailed" and line.cause == "S3 said no"
    poll = line.steps[3]
    assert poll.progress is not None and poll.progress.parts_done == 5
    assert poll.progress.bytes_done == 5 * 8 * 1024 * 1024
    failed = line.steps[-1]
    assert failed.failed and failed.error == "UploadFailed" and failed.duration_s(T0) == 0.5
    assert not line.steps[0].failed and line.current() is None


def test_repeated_polls_show_as_one_row_spanning_them() -> None:
    line = timeline.build(HISTORY)
    shown = [step for step in line.steps if step.kind not in timeline.ROUTING_TYPES]
    rows = timeline.collapsed(shown)
    assert [(step.name, runs) for step, runs in rows] == [
        ("AcquireLock", 1),
        ("StreamDumpPollJob", 2),
        ("WriteManifest", 1),
    ]
    span = rows[1][0]
    assert span.duration_s(T0) == 3.5 and span.progress is not None and span.progress.parts_done == 5

    console = Console(width=160, record=True, no_color=True)
    console.print(render.timeline_table(line))
    text = console.export_text()
    assert "StreamDumpPollJob (2 runs)" in text and "dump: 5 parts, 40.0 MB" in text
    assert "UploadFailed: S3 said no" in text and "StreamDumpIsJob" not in text


def test_a_running_state_is_the_current_one() -> None:
    line = timeline.build(HISTORY[:5])
    current = line.current()
    assert current is not None and current.name == "StreamDumpPollJob" and current.running
    assert line.outcome is None


def test_progress_is_read_only_from_a_polled_job() -> None:
    assert timeline.progress_of('{"backup_id": "x"}') is None
    assert timeline.progress_of('not json with "parts_done"') is None
    nested = json.dumps({"dump": {"job": {"step": "dump", "parts_done": 2, "part_bytes": 0}}})
    progress = timeline.progress_of(nested)
    assert progress is not None and progress.parts_done == 2 and progress.bytes_done is None


def test_every_runbook_the_advice_names_exists() -> None:
    runbooks = (Path(__file__).resolve().parents[2] / advice.RUNBOOKS).read_text(encoding="utf-8")
    slugs = {
        re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", runbooks, flags=re.MULTILINE)
    }
    for error in advice._NEXT:
        for line in advice.next_steps(error):
            if line.startswith("runbook: "):
                assert line.split("#", 1)[1] in slugs, line


def test_advice_explains_the_error_and_says_what_next() -> None:
    lines = advice.next_steps("LockHeld")
    assert lines[0] == "LockHeld: Another execution holds the host lock."
    assert lines[1].startswith("next: another workflow holds the host lock")
    assert advice.next_steps(None) == []
    assert advice.next_steps("States.Timeout")[-1].startswith("next: a Step Functions or Lambda limit")
    assert advice.next_steps("SomethingElse") == ["next: see the cause above and docs/runbooks.md"]
