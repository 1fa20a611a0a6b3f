"""`make demo`: the local plane doing the real job, narrated, with a machine-readable summary.

Over SSH (host "demo"): backup → a rejected bad request → test restore → simulated data loss → a restore
refused for want of a confirmation → guarded restore by swap (with the row counts before, after the loss and
after the restore; the old database kept aside) → the hourly drop-asides run → an update to a new release with a
migration → an update to a broken release that rolls itself back (code and database) → a disaster-recovery drill
→ an alert that heals itself (the real Prometheus sees the backend down, the real Alertmanager calls the webhook,
the remediation brings it back, the alert resolves). Over SSM Run Command (host "demo-ssm", no SSH at all):
backup → test restore.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from freshtrack_ops.config import SsmTarget
from opsctl.local.plane import Execution, LocalPlane

SUMMARY_PATH = Path("build/demo/summary.json")
REPORT_DIR = Path("build/demo")
LOSS_SQL = (
    "DELETE FROM temperature_readings WHERE recorded_at > (SELECT max(recorded_at) - interval '2 days' "
    "FROM temperature_readings)"
)


class Demo:
    def __init__(self, plane: LocalPlane) -> None:
        self.plane = plane
        self.summary: list[dict[str, Any]] = []
        self.unexpected = 0

    def _transport(self, host: str) -> str | None:
        try:
            return self.plane.target(host).transport
        except KeyError:
            return None

    def run(
        self,
        title: str,
        workflow: str,
        execution_input: dict[str, Any],
        expect_status: str = "SUCCEEDED",
        expect_error: str | None = None,
    ) -> Execution:
        print(f"\n[{len(self.summary) + 1}] {title}\n    {workflow} {json.dumps(execution_input)}")
        host = str(execution_input.get("host", ""))
        ex = self.plane.run(workflow, execution_input)
        for state in ex.states():
            marker = "x" if state.failed else "-"
            print(f"    {marker} {state.name:<26} {state.duration_s * 1000:8.0f} ms")
        print(f"    => {ex.status} in {ex.duration_s:.2f} s")
        if ex.error:
            print(f"       {ex.error}: {ex.cause}")
        ok = ex.status == expect_status and (expect_error is None or ex.error == expect_error)
        if not ok:
            self.unexpected += 1
            print(f"    UNEXPECTED: wanted {expect_status} {expect_error or ''}")
        self.summary.append(
            {
                "workflow": workflow,
                "title": title,
                "host": host,
                "transport": self._transport(host),
                "status": ex.status,
                "expected": expect_status,
                "error": ex.error,
                "duration_s": round(ex.duration_s, 3),
                "output": ex.output,
            }
        )
        return ex


def _counts_line(label: str, counts: dict[str, int]) -> str:
    return (
        f"    {label:<22} temperature_readings={counts['temperature_readings']:>7}  alerts={counts['alerts']:>4}  "
        + (f"total rows={sum(counts.values())}")
    )


def _demo_updates(demo: Demo, plane: LocalPlane) -> None:
    """A good update with a migration, then a broken release that is rolled back with its database."""
    host = plane.host("demo")
    print(f"\n  Application updates: the app runs {host.app_version()}; releases published to its git origin")
    host.publish_release("v1.3.0", migration_sql="ALTER TABLE sensors ADD COLUMN calibration_note text;")
    demo.run(
        "Update to the newest release (pre-update backup, deploy, migration, verification)",
        "update",
        {"host": "demo", "version": "latest", "reason": "make demo"},
    )
    print(f"    the app now runs {host.app_version()}; backend reports {host.deployed_release()}")
    before = host.table_counts()
    host.publish_release(
        "v1.4.0", migration_sql="ALTER TABLE sensors ADD COLUMN broken_flag text; DELETE FROM alerts;", healthy=False
    )
    demo.run(
        "Update to a broken release: its migration runs, verification fails, code AND database are rolled back",
        "update",
        {"host": "demo", "version": "v1.4.0", "reason": "make demo"},
        "FAILED",
        "RolledBack",
    )
    after = host.table_counts()
    print(f"    the app runs {host.app_version()} again; row counts as before the update: {after == before}")
    if after != before or host.app_version() != "v1.3.0":
        demo.unexpected += 1
        print("  UNEXPECTED: the rollback did not bring back the previous version and data")


def _demo_drill(demo: Demo, plane: LocalPlane) -> None:
    """A disaster-recovery drill onto a new server, with its RTO and RPO."""
    domain = plane.target("demo").domain
    print(
        "\n  Disaster-recovery drill: a new server launched from the target's launch template, bootstrapped at the "
        "backup's app version, the verified backup restored and counted; DNS and inventory untouched"
    )
    demo.run("Back up the demo host before the drill", "backup", {"host": "demo", "reason": "make demo"})
    demo.run(
        "Test-restore it (a recovery restores only backups whose test restore passed)",
        "test-restore",
        {"host": "demo", "backup_id": "latest"},
    )
    dns_before = plane.dns_records(domain)
    drill = demo.run(
        "Disaster-recovery drill onto a new server", "disaster-recovery", {"host": "demo", "reason": "make demo"}
    )
    if drill.status != "SUCCEEDED" or drill.output is None:
        return
    record = plane.dr_history("demo")[0]
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in record["phases"].items())
    instance = drill.output["instance"]["instance_id"]
    print(
        f"    RTO {record['rto_s']:.1f} s ({phases}); RPO {record['rpo_s']:.1f} s (age of backup {record['backup_id']})"
    )
    print(f"    drill server {instance} terminated: {instance not in plane.hosts()}; DNS {domain} unchanged: "
          f"{plane.dns_records(domain) == dns_before}")  # fmt: skip
    if instance in plane.hosts() or plane.dns_records(domain) != dns_before:
        demo.unexpected += 1
        print("  UNEXPECTED: the drill left its server running or changed DNS")


def _health(url: str) -> int:
    try:
        # the target's https health URL on 127.0.0.1 (Caddy's internal CA, trusted by the plane)
        with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context()) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _demo_alert(demo: Demo, plane: LocalPlane) -> None:
    """The backend stops; Prometheus, Alertmanager and the webhook bring it back without anyone typing."""
    health = plane.monitoring.caddy_url("demo")
    print(
        "\n  An alert that heals itself: the real Prometheus scrapes the backend behind the real Caddy, the real "
        "Alertmanager calls the webhook (bearer token), the remediation workflow acts"
    )
    before = len(plane.executions("remediation"))
    began = time.monotonic()
    plane.host("demo").crash_service("backend")
    print(f"    backend stopped: {health} answers {_health(health)}")
    plane.monitoring.wait_alert("ServiceDown", host="demo", timeout_s=60)
    print(f"    +{time.monotonic() - began:5.1f} s  Prometheus: ServiceDown firing (scrape 1 s, for: 2s)")
    deadline = time.monotonic() + 120
    while len(plane.executions("remediation")) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"    +{time.monotonic() - began:5.1f} s  Alertmanager delivered; the webhook started a remediation")
    while _health(health) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    healed = time.monotonic() - began
    print(f"    +{healed:5.1f} s  health {_health(health)} again: healed without a person")
    plane.wait_idle(60)
    runs = plane.executions("remediation")
    ex = plane.wait(runs[0]["executionArn"], "remediation") if len(runs) > before else None
    if ex is not None:
        for state in ex.states():
            print(f"    {'x' if state.failed else '-'} {state.name:<26} {state.duration_s * 1000:8.0f} ms")
    plane.monitoring.wait_alert("ServiceDown", host="demo", resolved=True, source="alertmanager", timeout_s=60)
    plane.wait_idle(60)
    print(f"    +{time.monotonic() - began:5.1f} s  the alert resolved; remediations started: "
          f"{len(plane.executions('remediation')) - before} (the resolution starts nothing)")  # fmt: skip
    ok = ex is not None and ex.status == "SUCCEEDED" and len(plane.executions("remediation")) == before + 1
    demo.summary.append(
        {"workflow": "remediation", "title": "An alert that heals itself", "host": "demo", "transport": "ssh",
         "status": ex.status if ex else "NOT STARTED", "expected": "SUCCEEDED", "error": ex.error if ex else None,
         "duration_s": round(healed, 3), "output": ex.output if ex else None}
    )  # fmt: skip
    if not ok:
        demo.unexpected += 1
        print("  UNEXPECTED: the alert did not heal the backend exactly once")


def _demo_ssm(demo: Demo, plane: LocalPlane) -> None:
    """Backup and test restore over SSM Run Command (host \"demo-ssm\", no SSH at all)."""
    print("\n  Over SSM Run Command: the host streams pg_dump to S3 itself (presigned part URLs, no AWS keys)")
    ssm_backup = demo.run(
        "Back up the demo-ssm host over SSM", "backup", {"host": "demo-ssm", "reason": "make demo (ssm)"}
    )
    if ssm_backup.output:
        print(f"    S3 key   s3://{plane.bucket}/{ssm_backup.output['dump_key']}")
        print(f"    sha256   {ssm_backup.output['sha256']} ({ssm_backup.output['size_bytes']} bytes)")
    demo.run(
        "Test-restore it over SSM (the host streams a presigned GET into pg_restore)",
        "test-restore",
        {"host": "demo-ssm", "backup_id": "latest"},
    )


def _demo_maintenance(demo: Demo, plane: LocalPlane) -> None:
    """The manual's Security Maintenance and Scaling, each after a verified backup and verified after: a pool change,
    a monthly OS update whose new kernel reboots the host (SSH: the workflow reboots and waits for a new boot id),
    a secret rotation (no value ever shown), and a resize of demo-ssm's EC2 instance."""
    host = plane.host("demo")
    print("\n  Maintenance: each takes the host lock and a verified backup first, verifies after, reverts on failure")
    demo.run("Raise the database connection pool", "db-pool", {"host": "demo", "size": 20, "reason": "make demo"})
    host.set_os_updates(
        [
            ("linux-image-amd64", "6.1.112-1", "6.1.119-1", True),
            ("openssl", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1", False),
        ]
    )
    boot = host.boot_id()
    demo.run("The monthly OS update: apt upgrade, a new kernel, so a reboot", "os-update", {"host": "demo"})
    print(f"    packages now {host.installed_packages()}; rebooted: {host.boot_id() != boot}")
    _wait_monitoring_quiet(plane, "demo")
    demo.run(
        "Rotate the database password and JWT secret (generated on the host, never shown)",
        "rotate-secrets",
        {"host": "demo", "confirm": "demo", "reason": "make demo"},
    )
    demo.run(
        "Resize demo-ssm's EC2 instance (stop, new type, start, verify)",
        "scale",
        {"host": "demo-ssm", "instance_type": "t3.large", "confirm": "demo-ssm", "reason": "make demo"},
    )


def _wait_monitoring_quiet(plane: LocalPlane, host_name: str, timeout_s: float = 60.0) -> None:
    """The OS update's reboot can keep the backend down past ServiceDown's ``for: 2s``: the alert's remediation then
    waits for the host lock and takes it the moment the update frees it, and the demo's next step (its lock wait
    scaled to about a second) gave way to it once in a run. Wait until no alert for the host is pending, firing or
    active in Alertmanager, no remediation runs, and nothing holds the host's lock."""
    monitoring = plane.monitoring
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alerts = [*monitoring.prometheus_alerts(), *monitoring.active_alerts()]
        busy = (
            any(alert["labels"].get("host") == host_name for alert in alerts)
            or any(run["status"] == "RUNNING" for run in plane.executions("remediation"))
            or plane.lock_item(host_name) is not None
        )
        if not busy:
            return
        time.sleep(0.2)


def _demo_daily(demo: Demo, plane: LocalPlane) -> Path | None:
    """The morning report: a day of realistic logs (errors, slow requests, failed logins, a 502) on the demo host,
    then the daily check; its HTML report is copied out of the plane's S3 for a browser."""
    seeded = plane.host("demo").seed_realistic_logs()
    print("\n  A day of logs seeded on the demo host: " + ", ".join(f"{k} {v}" for k, v in seeded.items()))
    ex = demo.run("The daily check of the demo host", "daily-check", {"host": "demo", "reason": "make demo"})
    if ex.output is None:
        return None
    report = json.loads(plane.s3.get_object(Bucket=plane.bucket, Key=ex.output["json_key"])["Body"].read())
    print(f"    verdict  {report['verdict'].upper()}")
    for finding in report["findings"]:
        if finding["level"] != "ok":
            print(f"    [{finding['level'].upper():8}] {finding['check']}: {finding['summary']}")
    html = plane.s3.get_object(Bucket=plane.bucket, Key=ex.output["html_key"])["Body"].read()
    path = REPORT_DIR / f"daily-report-demo-{report['date']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(html)
    return path


def _introduce(plane: LocalPlane, ready_s: float) -> None:
    print(f"  host 'demo' over {plane.transport}; app {plane.host('demo').app_dir}; plane ready in {ready_s:.1f} s")
    ssm_target = plane.target("demo-ssm")
    instance = ssm_target.instance_id if isinstance(ssm_target, SsmTarget) else "?"
    print(f"  host 'demo-ssm' over SSM Run Command (managed instance {instance})")
    for note in plane.notes:
        print(f"  note: {note}")


def run_demo(readings: int = 20_000) -> int:
    began = time.monotonic()
    print("Starting the local plane: embedded AWS (moto), real PostgreSQL, real sshd on 127.0.0.1 ...")
    with LocalPlane(readings=readings, log_level="ERROR", monitoring=True) as plane:
        host = plane.host("demo")
        _introduce(plane, time.monotonic() - began)
        demo = Demo(plane)

        backup = demo.run(
            "Back up the demo host", "backup", {"host": "demo", "trigger": "console", "reason": "make demo"}
        )
        if backup.output:
            print(f"    S3 key   s3://{plane.bucket}/{backup.output['dump_key']}")
            manifest = plane.manifest(backup.output["manifest_key"])
            print("    manifest " + json.dumps(manifest, indent=2).replace("\n", "\n             "))
        demo.run(
            "Reject a bad request (unknown trigger): nothing is touched",
            "backup",
            {"host": "demo", "trigger": "whenever"},
            "FAILED",
            "InvalidInput",
        )
        demo.run(
            "Test-restore the backup into a scratch database", "test-restore", {"host": "demo", "backup_id": "latest"}
        )

        before = host.table_counts()
        host.sql(LOSS_SQL)
        host.sql("DELETE FROM alerts")
        after_loss = host.table_counts()
        print("\n    Data loss simulated on the live database (last 2 days of readings and every alert deleted)")
        demo.run(
            "A restore without the typed confirmation is refused",
            "restore",
            {"host": "demo", "backup_id": "latest-verified"},
            "FAILED",
            "InvalidInput",
        )
        demo.run(
            "Restore the latest verified backup by swap (loaded next to the live database, names swapped in one "
            "transaction, the old one kept aside; renamed back on failure)",
            "restore",
            {"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard", "reason": "make demo"},
        )
        for record in plane.asides("demo"):
            until = f"{record.drop_after:%Y-%m-%d %H:%M} UTC"
            print(f"    the database before the restore is kept as {record.name} until {until}")
        demo.run(
            "The hourly drop-asides run: nothing is due yet (restore.keep_aside_hours, 24 by default)",
            "drop-asides",
            {"host": "demo"},
        )
        after_restore = host.table_counts()
        print("\n  Row counts on the live database:")
        print(_counts_line("at the backup", before))
        print(_counts_line("after the data loss", after_loss))
        print(_counts_line("after the restore", after_restore))
        if after_restore != before:
            demo.unexpected += 1
            print("  UNEXPECTED: the restored database differs from the backup")

        _demo_updates(demo, plane)
        _demo_drill(demo, plane)
        _demo_alert(demo, plane)

        _demo_ssm(demo, plane)
        _demo_maintenance(demo, plane)
        report_path = _demo_daily(demo, plane)

        print("\nNotifications published:")
        for message in plane.notifications():
            print(f"  [{message['Subject']}] {message['Message']}")
        counts = {"at_backup": before, "after_loss": after_loss, "after_restore": after_restore}

    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(
        json.dumps({"executions": demo.summary, "row_counts": counts}, indent=2, default=str) + "\n", encoding="utf-8"
    )
    print(f"\nSummary written to {SUMMARY_PATH} ({time.monotonic() - began:.1f} s in all)")
    if report_path is None:
        demo.unexpected += 1
        print("UNEXPECTED: the daily check made no report")
    else:
        print(f"Daily report (open it in a browser): {report_path.resolve()}")
    if demo.unexpected:
        print(f"{demo.unexpected} step(s) did not end as expected")
        return 1
    return 0
