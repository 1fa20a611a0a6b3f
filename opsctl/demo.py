"""`make demo`: the local plane doing the real job, narrated, with a machine-readable summary."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsctl.local.plane import Execution, LocalPlane

SUMMARY_PATH = Path("build/demo/summary.json")


@dataclass
class Step:
    title: str
    workflow: str
    execution_input: dict[str, Any]
    expect_status: str
    expect_error: str | None = None


STEPS = (
    Step("Back up the demo host (console-started)", "backup", {"host": "demo", "trigger": "console",
                                                              "reason": "make demo"}, "SUCCEEDED"),
    Step("Reject a bad request (unknown trigger): nothing is touched", "backup",
         {"host": "demo", "trigger": "whenever"}, "FAILED", "InvalidInput"),
)


def _print_execution(ex: Execution) -> None:
    for state in ex.states():
        marker = "x" if state.failed else "-"
        print(f"    {marker} {state.name:<26} {state.duration_s * 1000:8.0f} ms")
    print(f"    => {ex.status} in {ex.duration_s:.2f} s")
    if ex.error:
        print(f"       error {ex.error}: {ex.cause}")


def run_demo(readings: int = 20_000) -> int:
    began = time.monotonic()
    print("Starting the local plane: embedded AWS (moto), real PostgreSQL, real sshd on 127.0.0.1 ...")
    summary: list[dict[str, Any]] = []
    failures = 0
    with LocalPlane(readings=readings, log_level="ERROR") as plane:
        host = plane.host("demo")
        ready = time.monotonic() - began
        print(f"  host 'demo' over {plane.transport}; app {host.app_dir}; plane ready in {ready:.1f} s")
        for note in plane.notes:
            print(f"  note: {note}")
        print(f"  live row counts: {host.table_counts()}")
        for number, step in enumerate(STEPS, start=1):
            print(f"\n[{number}] {step.title}\n    input {json.dumps(step.execution_input)}")
            ex = plane.run(step.workflow, step.execution_input)
            _print_execution(ex)
            ok = ex.status == step.expect_status and (step.expect_error is None or ex.error == step.expect_error)
            failures += 0 if ok else 1
            if not ok:
                print(f"    UNEXPECTED: wanted {step.expect_status} {step.expect_error or ''}")
            if ex.status == "SUCCEEDED" and ex.output and step.workflow == "backup":
                manifest = plane.manifest(ex.output["manifest_key"])
                print(f"    S3 key   s3://{plane.bucket}/{ex.output['dump_key']}")
                print("    manifest " + json.dumps(manifest, indent=2).replace("\n", "\n             "))
            summary.append(
                {
                    "workflow": step.workflow,
                    "title": step.title,
                    "status": ex.status,
                    "expected": step.expect_status,
                    "error": ex.error,
                    "duration_s": round(ex.duration_s, 3),
                    "output": ex.output,
                }
            )
        print("\nNotifications published:")
        for message in plane.notifications():
            print(f"  [{message['Subject']}] {message['Message']}")
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(json.dumps({"executions": summary}, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nSummary written to {SUMMARY_PATH} ({time.monotonic() - began:.1f} s in all)")
    if failures:
        print(f"{failures} execution(s) did not end as expected")
        return 1
    return 0
