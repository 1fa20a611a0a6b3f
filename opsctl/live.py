"""``--wait``: follow an execution state by state until it ends.

In a terminal, a live table (rich ``Live``): each state with its duration, a pulse on the running one, a job's
parts and bytes where the state polls a host job. Elsewhere (a pipe, CI), one line per finished state. Both end
with the outcome, the output's figures or the error, its cause and what to do next. The execution keeps running
when the operator presses Ctrl-C (exit 130) or ``--timeout`` passes (exit 5): waiting never stops it.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.text import Text

from opsctl import advice, render, timeline
from opsctl.backend import Backend
from opsctl.errors import WaitTimedOut
from opsctl.session import Session

#: seconds between polls of the history (Step Functions' GetExecutionHistory allows a few per second per account)
POLL_S = 1.0
#: how long the outcome waits for the local plane's notification of the execution to reach its file
NOTIFICATION_WAIT_S = 3.0
#: rows of the live table (older states scroll away; ``opsctl show`` lists them all)
LIVE_ROWS = 18


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _header(workflow: str, described: dict[str, Any], elapsed: float) -> Text:
    header = Text(f"{workflow} ", style="bold")
    header.append(described["executionArn"].rsplit(":", 1)[-1], style="dim")
    status = described["status"]
    header.append(f"  {status}", style=render.STATUS_STYLE.get(status, ""))
    header.append(f"  {render.seconds(elapsed)}")
    return header


def follow(current: Session, backend: Backend, arn: str, *, workflow: str, timeout_s: float | None) -> int:
    """Wait for ``arn`` to end, showing its progress; returns the exit code (0 only for SUCCEEDED)."""
    sfn = backend.client("stepfunctions")
    began = time.monotonic()
    deadline = None if timeout_s is None else began + timeout_s
    printed = 0
    live: Live | None = None
    if not current.json and current.out.is_terminal:
        live = Live(console=current.out, refresh_per_second=8, transient=False)
        live.start()
    try:
        while True:
            described = sfn.describe_execution(executionArn=arn)
            line = timeline.build(history(sfn, arn))
            elapsed = ((described.get("stopDate") or render.now()) - described["startDate"]).total_seconds()
            if live is not None:
                live.update(Group(_header(workflow, described, elapsed), render.timeline_table(line, last=LIVE_ROWS)))
            elif not current.json:
                printed = _print_finished(current, line, printed)
            if described["status"] != "RUNNING":
                break
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimedOut(f"{arn} is still running after {timeout_s:g} s (it goes on: opsctl show {arn})")
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        current.err.print(f"\nstopped waiting; the execution goes on: opsctl show {arn}")
        return 130
    finally:
        if live is not None:
            live.stop()
    _report(current, backend, described, workflow, line)
    return 0 if described["status"] == "SUCCEEDED" else 1


def _print_finished(current: Session, line: timeline.Timeline, printed: int) -> int:
    """Print the states that finished since the last poll, one line each (the non-terminal view)."""
    finished = [step for step in line.steps if not step.running]
    for step in finished[printed:]:
        if step.kind in timeline.ROUTING_TYPES and not step.failed:
            continue
        mark = "x" if step.failed else "-"
        detail = f"  {step.error}" if step.failed else ""
        current.out.print(f"  {mark} {step.name:<34} {render.seconds(step.duration_s(render.now())):>9}{detail}")
    return len(finished)


def _report(current: Session, backend: Backend, described: dict[str, Any], workflow: str, line: Any) -> None:
    if current.json:
        current.emit_json(render.execution_dict(described, workflow, line))
        return
    out = current.out
    out.print(Text("=> ").append(render.outcome_text(described)))
    output = render.parse_json(described.get("output"))
    for text in render.output_lines(output):
        out.print(f"   {text}", soft_wrap=True, markup=False)
    if described.get("error"):
        out.print(f"   {described['error']}: {described.get('cause') or ''}", style="red", markup=False)
        for text in advice.next_steps(described["error"]):
            out.print(f"   {text}", markup=False)
    if backend.notifications is not None:
        for message in _notifications_of(backend, described["executionArn"].rsplit(":", 1)[-1]):
            out.print(f"   notified: {message.get('Subject', '')}", style="dim", markup=False)


def _notifications_of(backend: Backend, name: str, wait_s: float = NOTIFICATION_WAIT_S) -> list[dict[str, Any]]:
    """The local plane's notifications naming execution ``name``. The plane's process writes them to its file
    every half second, so one published just before the execution ended may need a moment to appear."""
    assert backend.notifications is not None
    deadline = time.monotonic() + wait_s
    while True:
        found = [
            message
            for message in backend.notifications()
            if name in str(message.get("Message", "")) or name in str(message.get("Subject", ""))
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
