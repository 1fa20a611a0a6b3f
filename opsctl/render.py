"""How executions, timelines and outcomes look: rich renderables for people, plain dicts for ``--json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from opsctl import advice
from opsctl.timeline import ROUTING_TYPES, StateStep, Timeline, collapsed

STATUS_STYLE = {
    "RUNNING": "yellow",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "ABORTED": "red",
    "TIMED_OUT": "red",
    "PENDING_REDRIVE": "yellow",
}


def now() -> datetime:
    return datetime.now(UTC)


def seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def mebibytes(value: int | float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{int(value)} B"


def _step_mark(step: StateStep) -> Text:
    if step.running:
        return Text("…", style="yellow")
    if step.failed:
        return Text("✗", style="red")
    return Text("✓", style="green")


def _step_detail(step: StateStep, *, width: int = 60) -> Any:
    if step.failed:
        cause = (step.cause or "").replace("\n", " ")
        return Text(f"{step.error}: {cause}"[: width * 2], style="red")
    if step.progress is not None:
        done = step.progress.bytes_done
        label = f"{step.progress.parts_done} parts" + (f", {mebibytes(done)}" if done else "")
        return Text(f"{step.progress.step}: {label}", style="cyan")
    return ""


def timeline_table(timeline: Timeline, *, all_states: bool = False, last: int | None = None) -> Table:
    """One row per state entered: mark, name, type, duration, what it reports (progress or the error)."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("", width=1)
    table.add_column("state")
    table.add_column("type", style="dim")
    table.add_column("duration", justify="right")
    table.add_column("detail", overflow="fold")
    shown = [s for s in timeline.steps if all_states or s.kind not in ROUTING_TYPES or s.failed]
    rows = collapsed(shown)
    if last is not None and len(rows) > last:
        table.add_row("", Text(f"… {len(rows) - last} earlier states", style="dim"), "", "", "")
        rows = rows[-last:]
    moment = timeline.ended or now()
    for step, runs in rows:
        name = step.name + (f" ({runs} runs)" if runs > 1 else "")
        detail: Any = _step_detail(step)
        if step.running:  # a pulse: how far a running state is cannot be known, only that it moves
            bar = ProgressBar(total=None, width=24, pulse=True)
            detail = Table.grid(padding=(0, 1))
            detail.add_row(bar, _step_detail(step))
        table.add_row(_step_mark(step), name, step.kind, seconds(step.duration_s(moment)), detail)
    return table


def step_dict(step: StateStep, moment: datetime) -> dict[str, Any]:
    return {
        "state": step.name,
        "type": step.kind,
        "entered": step.entered,
        "exited": step.exited,
        "duration_s": round(step.duration_s(moment), 3),
        "status": "running" if step.running else "failed" if step.failed else "succeeded",
        "error": step.error,
        "cause": step.cause,
        "progress": None
        if step.progress is None
        else {
            "step": step.progress.step,
            "parts_done": step.progress.parts_done,
            "bytes_done": step.progress.bytes_done,
        },
    }


def execution_dict(described: dict[str, Any], workflow: str | None, timeline: Timeline | None) -> dict[str, Any]:
    """The JSON shape of one execution (``opsctl show --json``, ``start --wait --json``)."""
    document: dict[str, Any] = {
        "execution_arn": described["executionArn"],
        "name": described.get("name") or described["executionArn"].rsplit(":", 1)[-1],
        "workflow": workflow,
        "status": described["status"],
        "started": described.get("startDate"),
        "stopped": described.get("stopDate"),
        "input": parse_json(described.get("input")),
        "output": parse_json(described.get("output")),
        "error": described.get("error"),
        "cause": described.get("cause"),
        "next_steps": advice.next_steps(described.get("error")) if described["status"] != "SUCCEEDED" else [],
    }
    moment = (timeline.ended if timeline else None) or now()
    document["states"] = [step_dict(step, moment) for step in timeline.steps] if timeline else []
    from opsctl.cli_schemas import ExecutionDocument

    return ExecutionDocument.model_validate(document).model_dump(mode="json")


def parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def output_lines(output: Any, limit: int = 12) -> list[str]:
    """The execution output's top-level scalars as ``key: value`` lines (ids, keys, sizes, verdicts)."""
    if not isinstance(output, dict):
        return []
    lines = []
    for key, value in output.items():
        if isinstance(value, str | int | float | bool) and value != "":
            lines.append(f"{key}: {value}")
    return lines[:limit]


def outcome_text(described: dict[str, Any]) -> Text:
    status = described["status"]
    text = Text(status, style=f"bold {STATUS_STYLE.get(status, '')}")
    if described.get("startDate") and described.get("stopDate"):
        text.append(f" in {seconds((described['stopDate'] - described['startDate']).total_seconds())}")
    return text
