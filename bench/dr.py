"""The disaster-recovery part of ``make bench``: the drill's RTO split into its phases, against the manual's 30-60 min.

Per database size (the demo's seed, and a bigger one: ``--dr-mb``), on a local plane with one host over SSH: a
backup, its test restore (a recovery restores only verified backups), then a ``disaster-recovery`` drill; on the
demo size also a ``recover`` (the DNS phase: Route 53 UPSERT until INSYNC, the promotion, the check through the
domain). From the execution's own history:

* **provisioning**: execution start → the replacement registered (lock, best-effort config capture, RunInstances,
  the waits until it runs and answers with the host key pinned from its console);
* **bootstrap**: clone at the backup's app version + the app config from its secret (``Bootstrap``), and the
  deploy script (``Deploy`` and its host-job polls, reported apart: it is the app's, not the workflow's);
* **data restore**: ``RestoreDatabase`` (+ polls): the backup streamed into ``pg_restore`` on the new server;
* **verification**: counts against the manifest, services started, health from the host;
* **DNS** (recover only): UPSERT → INSYNC → promotion → verification through the domain.

The workflow's own overhead = RTO - provisioning's EC2 part (RunInstances to ready) - the deploy script - the
data restore: the locks, Lambda invocations, Wait states, counting and checks it adds. Wait states last what they
say here (time_scale 1; the local plane's DR poll interval is 1 s, a deployment's default 10 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from opsctl.local.seed import estimate_readings_for_mb

HOST = "demo"
#: the manual's "Full system restore: 30-60 minutes"
MANUAL_RTO_S = (30 * 60.0, 60 * 60.0)
OVERHEAD_TARGET_S = 120.0
#: the drill's own target: 10 minutes plus the data restore
DRILL_TARGET_S = 600.0


def _span(ex: Execution, first: str, last: str) -> float:
    """From ``first`` entered to the last run of ``last`` exited (0 when the execution never entered ``first``)."""
    runs = ex.states()
    starts = [r.entered for r in runs if r.name == first]
    ends = [r.exited for r in runs if r.name == last and r.exited is not None]
    if not starts or not ends:
        return 0.0
    return round((ends[-1] - starts[0]).total_seconds(), 3)


def _since_start(ex: Execution, name: str) -> float:
    assert ex.started_at is not None
    moments: list[datetime] = [r.exited for r in ex.states() if r.name == name and r.exited is not None]
    return round((moments[-1] - ex.started_at).total_seconds(), 3) if moments else 0.0


def measure(ex: Execution, plane: LocalPlane) -> dict[str, Any]:
    if ex.status != "SUCCEEDED":
        raise RuntimeError(f"disaster-recovery {ex.status}: {ex.error}: {ex.cause}")
    record = plane.dr_history(HOST)[0]
    rto = float(record["rto_s"])
    ec2 = _span(ex, "Launch", "RegisterProvisioned")
    deploy = _span(ex, "Deploy", "DeployIsJob")
    restore = _span(ex, "RestoreDatabase", "RestoreDatabaseIsJob")
    return {
        "mode": record["mode"],
        "rto_s": rto,
        "rpo_s": record["rpo_s"],
        "phases": record["phases"],
        "provisioning_s": _since_start(ex, "RegisterProvisioned"),
        "ec2_s": ec2,
        "bootstrap_s": _span(ex, "Bootstrap", "Bootstrap"),
        "deploy_script_s": deploy,
        "data_restore_s": restore,
        "verification_s": _span(ex, "VerifyCounts", "HealthReplacement"),
        "dns_s": _span(ex, "DnsUpsert", "HealthThroughDomain") if record["mode"] == "recover" else None,
        "overhead_s": round(rto - ec2 - deploy - restore, 3),
        "execution_s": round(ex.duration_s, 3),
    }


def one_size(readings: int, *, recover: bool, log: Callable[[str], None]) -> dict[str, Any]:
    with LocalPlane(hosts=(HOST,), ssm_hosts=(), readings=readings, use_sshd=True, log_level="ERROR") as plane:
        host = plane.host(HOST)
        size_mb = host.sql("SELECT pg_database_size(current_database())")[0][0] / 1024 / 1024
        log(f"dr: {size_mb:.0f} MB database; backup and test restore")
        backup = plane.run("backup", {"host": HOST})
        check = plane.run(
            "test-restore", {"host": HOST, "backup_id": backup.output["backup_id"] if backup.output else ""}
        )
        if check.status != "SUCCEEDED":
            raise RuntimeError(f"test-restore {check.status}: {check.error}: {check.cause}")
        log("dr: drill")
        drill = plane.run("disaster-recovery", {"host": HOST, "reason": "bench"}, timeout_s=7200)
        result: dict[str, Any] = {"database_mb": round(size_mb, 1), "drill": measure(drill, plane)}
        if recover:
            log("dr: recover")
            domain = plane.target(HOST).domain
            ex = plane.run("disaster-recovery", {"host": HOST, "mode": "recover", "confirm": domain}, timeout_s=7200)
            result["recover"] = measure(ex, plane)
        return result


def run(big_mb: float, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    sizes = [
        one_size(20_000, recover=True, log=log),
        one_size(estimate_readings_for_mb(big_mb), recover=False, log=log),
    ]
    return {"sizes": sizes, "runtime_s": round(time.monotonic() - started, 1)}


def targets(data: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for size in data["sizes"]:
        drill = size["drill"]
        label = f"{size['database_mb']:.0f} MB"
        rows.append(
            {
                "target": f"workflow overhead of the drill ≤ {OVERHEAD_TARGET_S:.0f} s ({label})",
                "measured": f"{drill['overhead_s']:.1f} s",
                "result": "PASS" if drill["overhead_s"] <= OVERHEAD_TARGET_S else "MISS",
            }
        )
        budget = DRILL_TARGET_S + drill["data_restore_s"]
        rows.append(
            {
                "target": f"drill RTO ≤ 10 min + the data restore ({label}: ≤ {budget:.0f} s)",
                "measured": f"{drill['rto_s']:.1f} s",
                "result": "PASS" if drill["rto_s"] <= budget else "MISS",
            }
        )
        rows.append(
            {
                "target": f"drill RTO against the manual's 30-60 min ({label})",
                "measured": f"{drill['rto_s'] / MANUAL_RTO_S[0]:.3f} of 30 min",
                "result": "PASS" if drill["rto_s"] < MANUAL_RTO_S[0] else "MISS",
            }
        )
    return rows
