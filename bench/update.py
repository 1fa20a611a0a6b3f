"""The update part of ``make bench``: how long a rollback takes and what the workflow adds to it.

Per round, on one local host reached over SSH:

* **manual** (the baseline, same run): the manual's Rollback Procedure typed as one shell script on the host
  (``docker compose down --timeout 30``, ``git checkout <previous>``, ``deploy-automated.sh --reset``,
  ``deploy-automated.sh``, ``verify-deployment.sh DOMAIN``) after a broken release was deployed by hand;
* **rollback, code only**: an update to a broken release without migration; from the failed verification
  (StopBeforeRollback entered) to the previous version verified (the last RollbackVerify exited);
* **rollback with the database**: a broken release whose migration ran; until the nested restore ended;
* **good update**: the health URL polled every 20 ms during the whole update, and during a bare
  ``deploy-automated.sh`` run of the same kind (baseline): the longest run of non-200 answers of each.

The workflow's own overhead = its rollback time - the same procedure typed by hand in the same round (the
deploy script's own run time is in both) - for the database case, the nested restore execution's run time. It
includes the host-job polling: a deployment that may outlast half a Lambda invocation runs as a host job
(``update.assumed_deploy_s``, 600 s by default, against a 900 s function), polled after 5 s at the earliest.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import count
from typing import Any

from freshtrack_ops.config import UpdateSettings
from opsctl.local.execution import Execution
from opsctl.local.host import LocalHost
from opsctl.local.plane import LocalPlane

HOST = "demo"
#: the manual's own figure for its rollback ("5-10 minutes"): the low end
MANUAL_ROLLBACK_S = 300.0
OVERHEAD_TARGET_S = 60.0
POLL_S = 0.02
#: two verification attempts, 10 s apart: a broken release is found within ~10 s here
VERIFY_WINDOW_S = 20

_minor = count(50)


def _version() -> str:
    return f"v1.{next(_minor)}.0"


def _script(host: LocalHost, text: str) -> float:
    """Run ``text`` with bash in the app directory with the host's environment; its wall time."""
    started = time.perf_counter()
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=host.app_dir,
        env=host.env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - started


def manual_rollback(plane: LocalPlane) -> dict[str, float]:
    """Deploy a broken release by hand, then time the manual's Rollback Procedure back to the running one."""
    host = plane.host(HOST)
    previous = host.app_version()
    broken = _version()
    host.publish_release(broken, healthy=False)
    _script(host, f"git fetch -q --tags && git checkout -q {broken} && ./scripts/deploy-automated.sh")
    rollback_s = _script(
        host,
        f"{host.docker_bin} compose down --timeout 30 && git checkout -q {previous} && "
        "./scripts/deploy-automated.sh --reset && ./scripts/deploy-automated.sh && "
        "./scripts/verify-deployment.sh demo.freshtrack.local",
    )
    if host.app_version() != previous:
        raise RuntimeError(f"manual rollback left {host.app_version()}, not {previous}")
    return {"rollback_s": round(rollback_s, 3)}


def _at(ex: Execution, name: str, *, last: bool = False, exited: bool = False) -> datetime:
    runs = [r for r in ex.states() if r.name == name]
    if not runs:
        raise RuntimeError(f"{ex.workflow}: no state {name} in {ex.state_names()}")
    run = runs[-1] if last else runs[0]
    moment = run.exited if exited else run.entered
    if moment is None:
        raise RuntimeError(f"{ex.workflow}: state {name} never exited")
    return moment


def _deploy_log_s(plane: LocalPlane, key_part: str) -> float:
    keys = [k for k in plane.object_keys("deploy-logs/") if key_part in k and k.endswith("/rollback.json")]
    if not keys:
        raise RuntimeError(f"no rollback deploy log for {key_part}")
    body = plane.s3.get_object(Bucket=plane.bucket, Key=keys[-1])["Body"].read()
    return float(json.loads(body)["duration_s"])


def _restore_child_s(plane: LocalPlane, parent: Execution) -> float:
    """Run time of the restore the update started (its ``reason`` names the update)."""
    sfn = plane.sfn
    for item in plane.executions("restore"):
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if parent.arn in str(described.get("input", "")):
            return float((described["stopDate"] - described["startDate"]).total_seconds())
    raise RuntimeError(f"no restore execution started by {parent.arn}")


def workflow_rollback(plane: LocalPlane, *, migration: bool) -> dict[str, Any]:
    host = plane.host(HOST)
    version = _version()
    sql = f"ALTER TABLE sensors ADD COLUMN bench_{version.replace('.', '_')} text;" if migration else None
    host.publish_release(version, migration_sql=sql, healthy=False)
    previous = host.app_version()
    ex = plane.run("update", {"host": HOST, "version": version, "reason": "update benchmark"}, timeout_s=1800)
    if ex.error != "RolledBack" or host.app_version() != previous:
        raise RuntimeError(f"update to {version}: {ex.status} {ex.error}: {ex.cause}")
    failed_at = _at(ex, "StopBeforeRollback")
    code_back = _at(ex, "RollbackVerify", last=True, exited=True)
    update_id = ex.arn.rsplit(":", 1)[-1]
    deploy_s = _deploy_log_s(plane, f"deploy-logs/{HOST}/")
    out: dict[str, Any] = {
        "execution_s": round(ex.duration_s, 3),
        "code_back_s": round((code_back - failed_at).total_seconds(), 3),
        "rollback_deploy_script_s": round(deploy_s, 3),
        "database_restored": "RestoreDatabase" in ex.state_names(),
        "execution": update_id,
    }
    if migration:
        restored = _at(ex, "RestoreDatabase", exited=True)
        restore_s = _restore_child_s(plane, ex)
        total = (restored - failed_at).total_seconds()
        out |= {"rollback_s": round(total, 3), "restore_execution_s": round(restore_s, 3)}
    else:
        out["rollback_s"] = out["code_back_s"]
    return out


def overhead_s(workflow: dict[str, Any], manual: dict[str, float]) -> float:
    """What the workflow adds to the manual procedure typed by hand (and to the restore it starts)."""
    restore_s = float(workflow.get("restore_execution_s", 0.0))
    return round(float(workflow["rollback_s"]) - manual["rollback_s"] - restore_s, 3)


@contextmanager
def health_gaps(url: str) -> Iterator[Callable[[], dict[str, float]]]:
    """Poll ``url`` every POLL_S in a thread; the yielded function gives the longest non-200 run so far."""
    stop = threading.Event()
    samples: list[tuple[float, bool]] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            samples.append((time.perf_counter(), ok))
            stop.wait(POLL_S)

    thread = threading.Thread(target=poll, name="health-poll", daemon=True)
    thread.start()

    def longest() -> dict[str, float]:
        worst, start = 0.0, None
        for at, ok in samples:
            if not ok and start is None:
                start = at
            elif ok and start is not None:
                worst, start = max(worst, at - start), None
        if start is not None and samples:
            worst = max(worst, samples[-1][0] - start)
        return {"longest_gap_s": round(worst, 3), "samples": float(len(samples))}

    try:
        yield longest
    finally:
        stop.set()
        thread.join(5)


def good_update_gap(plane: LocalPlane) -> dict[str, Any]:
    host = plane.host(HOST)
    version = _version()
    host.publish_release(version)
    with health_gaps(host.health_url) as bare:
        bare_s = _script(host, f"git fetch -q --tags && git checkout -q {version} && ./scripts/deploy-automated.sh")
        bare_gap = bare()
    # back to where the workflow starts from, as a person would
    _script(host, "git checkout -q - && ./scripts/deploy-automated.sh")
    with health_gaps(host.health_url) as during:
        ex = plane.run("update", {"host": HOST, "version": version, "reason": "update benchmark"}, timeout_s=1800)
        gap = during()
    if ex.status != "SUCCEEDED":
        raise RuntimeError(f"good update: {ex.error}: {ex.cause}")
    return {
        "bare_deploy_s": round(bare_s, 3),
        "bare_deploy_gap_s": bare_gap["longest_gap_s"],
        "workflow_gap_s": gap["longest_gap_s"],
        "workflow_execution_s": round(ex.duration_s, 3),
        "workflow_deploy_s": round(sum(r.duration_s for r in ex.states() if r.name == "Deploy"), 3),
    }


def run(rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    # time_scale 1: Wait states last what they say (the tests skip them)
    with LocalPlane(log_level="ERROR", hosts=(HOST,), ssm_hosts=(), time_scale=1.0) as plane:
        plane.update_target(HOST, update=UpdateSettings(verify_window_s=VERIFY_WINDOW_S).model_dump())
        runs: dict[str, list[dict[str, Any]]] = {"manual": [], "code": [], "database": [], "good": []}
        for round_no in range(1, rounds + 1):
            manual = manual_rollback(plane)
            runs["manual"].append(manual)
            for part, migration in (("code", False), ("database", True)):
                measured = workflow_rollback(plane, migration=migration)
                measured["overhead_s"] = overhead_s(measured, manual)
                runs[part].append(measured)
            runs["good"].append(good_update_gap(plane))
            log(f"update round {round_no}: " + json.dumps({k: v[-1] for k, v in runs.items()}))
    return runs


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def med(part: str, key: str) -> float:
        return round(_median([float(r[key]) for r in runs[part]]), 3)

    manual = med("manual", "rollback_s")
    code, database = med("code", "rollback_s"), med("database", "rollback_s")
    overhead_code, overhead_db = med("code", "overhead_s"), med("database", "overhead_s")
    gap, bare_gap = med("good", "workflow_gap_s"), med("good", "bare_deploy_gap_s")
    return {
        "manual_procedure_s": manual,
        "rollback_code_s": code,
        "rollback_database_s": database,
        "overhead_code_s": overhead_code,
        "overhead_database_s": overhead_db,
        "restore_execution_s": med("database", "restore_execution_s"),
        "rollback_deploy_script_s": med("code", "rollback_deploy_script_s"),
        "code_vs_manual_procedure_ratio": round(code / manual, 3) if manual else None,
        "code_vs_manual_figure_ratio": round(code / MANUAL_ROLLBACK_S, 3),
        "database_vs_manual_figure_ratio": round(database / MANUAL_ROLLBACK_S, 3),
        "good_update_gap_s": gap,
        "bare_deploy_gap_s": bare_gap,
        "targets": [
            {
                "target": f"workflow overhead per rollback ≤ {OVERHEAD_TARGET_S:.0f} s (code only)",
                "measured": f"{overhead_code:.1f} s",
                "result": "PASS" if overhead_code <= OVERHEAD_TARGET_S else "**MISS**",
            },
            {
                "target": f"workflow overhead per rollback ≤ {OVERHEAD_TARGET_S:.0f} s (with the database restore)",
                "measured": f"{overhead_db:.1f} s",
                "result": "PASS" if overhead_db <= OVERHEAD_TARGET_S else "**MISS**",
            },
            {
                "target": "rollback faster than the manual's 5-10 minutes",
                "measured": f"code {code:.1f} s, with database {database:.1f} s (vs {MANUAL_ROLLBACK_S:.0f} s)",
                "result": "PASS" if max(code, database) < MANUAL_ROLLBACK_S else "**MISS**",
            },
            {
                "target": "health-check gap of a good update ≤ the deploy script's own (bare run, 20 ms polls)",
                "measured": f"{gap * 1000:.0f} ms vs {bare_gap * 1000:.0f} ms",
                "result": "PASS" if gap <= bare_gap + 2 * POLL_S else "**MISS**",
            },
        ],
    }
