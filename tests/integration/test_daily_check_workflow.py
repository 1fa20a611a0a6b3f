"""The daily-check workflow end to end on the local plane, per transport: the host's checks read by
daily_check.sh (with the local host's stand-ins for ufw, fail2ban and apt), judged into a report (JSON and HTML in
S3, the day's figures in the history), notified; a degraded host's findings; a host that cannot be reached still
makes a (critical) report; bad input refused with nothing stored."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.config import SshTarget
from freshtrack_ops.daily.settings import DailyCheckSettings
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.remediation.settings import RemediationSettings
from freshtrack_ops.tasks import TASKS
from opsctl.local import iam
from opsctl.local.logs_seed import SEEDED_SECRET
from opsctl.local.plane import Execution, LocalPlane
from tests.integration.conftest import free_port, tls_listener, update_plane

pytestmark = pytest.mark.integration

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}


@pytest.fixture(scope="module")
def cert_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Two TLS listeners: a certificate with 60 days left (ok) and one with 10 (a warning)."""
    with (
        tls_listener(tmp_path_factory.mktemp("tls60"), 60) as fresh,
        tls_listener(tmp_path_factory.mktemp("tls10"), 10) as expiring,
    ):
        yield {"fresh": fresh, "expiring": expiring}


@pytest.fixture(scope="module")
def plane(cert_ports: dict[str, int]) -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        for host in TRANSPORTS.values():
            _verified_backup_entry(host)
        yield local_plane


def _verified_backup_entry(host: str) -> None:
    """A verified backup in the catalog, finished an hour ago: the daily check reads only the catalog (the backup
    itself is test_backup_workflow.py's)."""
    finished = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = CatalogEntry(host, "daily-test", f"backups/{host}/daily-test.dump", f"backups/{host}/daily-test.json",
                         42 * 1024 * 1024, finished, verification_status="passed", verified_at=finished)  # fmt: skip
    with iam.plane_calls():
        runtime.catalog().record_backup(entry, "{}")


@pytest.fixture(autouse=True)
def _healthy(plane: LocalPlane, cert_ports: dict[str, int]) -> None:
    """Each test starts from a healthy host: the defaults, the 60-day certificate, no seeded logs."""
    for host in TRANSPORTS.values():
        plane.update_target(
            host,
            remediation=RemediationSettings(certificate_port=cert_ports["fresh"]).model_dump(),
            daily_check=DailyCheckSettings().model_dump(),
        )
        local = plane.host(host)
        local.clear_logs()
        local.set_firewall()
        local.set_fail2ban()
        local.set_reboot_required(None)
        local.set_pending_updates()
        for service, state in local.services().items():
            if state != "running":
                local.start_service(service)


def _output(ex: Execution) -> dict[str, Any]:
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None
    return ex.output


def _report(plane: LocalPlane, key: str) -> Any:
    body = plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"].read().decode()
    return json.loads(body) if key.endswith(".json") else body


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_healthy_host_gets_an_ok_report_in_s3_and_a_notification(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    seen = len(plane.notifications())

    ex = plane.run("daily-check", {"host": host, "trigger": "schedule"})

    output = _output(ex)
    assert output["verdict"] == "ok", output
    report = _report(plane, output["json_key"])
    assert report["verdict"] == "ok", [f for f in report["findings"] if f["level"] != "ok"]
    checks = {f["check"] for f in report["findings"]}
    assert {"health", "services", "cpu", "memory", "disk", "certificate", "backup", "firewall", "fail2ban"} <= checks
    assert report["figures"]["BackupSizeBytes"] == 42 * 1024 * 1024
    assert 59 < report["figures"]["CertificateDaysLeft"] <= 60
    html = _report(plane, output["html_key"])
    assert html.count('<svg class="chart"') >= 4
    (note,) = plane.notifications()[seen:]
    assert note["Subject"] == f"FreshTrack daily check {host}: OK (all checks ok)"
    assert output["html_key"] in note["Message"]


def test_a_degraded_host_gets_each_finding_redacted_samples_and_history(
    plane: LocalPlane, cert_ports: dict[str, int]
) -> None:
    host = "demo"
    local = plane.host(host)
    seeded = local.seed_realistic_logs()
    local.crash_service("worker")
    local.set_firewall(rules=(("22/tcp", "ALLOW IN", "Anywhere"), ("5432/tcp", "ALLOW IN", "Anywhere")))
    local.set_fail2ban(banned=("203.0.113.5", "198.51.100.7"))
    local.set_reboot_required(("linux-image-6.1.0-27-amd64",))
    local.set_pending_updates(updates=9, security=4)
    plane.update_target(host, remediation=RemediationSettings(certificate_port=cert_ports["expiring"]).model_dump())
    seen = len(plane.notifications())

    ex = plane.run("daily-check", {"host": host})

    output = _output(ex)
    report = _report(plane, output["json_key"])
    levels = {f["check"]: f["level"] for f in report["findings"]}
    assert report["verdict"] == "critical"
    assert levels["services"] == "critical"
    assert levels["certificate"] == "warning"
    assert levels["firewall"] == "warning"
    assert levels["reboot"] == "warning"
    assert levels["updates"] == "warning"
    for query, count in seeded.items():
        assert report["figures"][query_figure(query)] == count, query
    fail2ban = next(f for f in report["findings"] if f["check"] == "fail2ban")
    assert fail2ban["samples"] == ["203.0.113.5", "198.51.100.7"]
    html = _report(plane, output["html_key"])
    (note,) = plane.notifications()[seen:]
    for text in (json.dumps(report), html, note["Message"]):
        assert SEEDED_SECRET not in text
    assert note["Message"].index("[CRITICAL]") < note["Message"].index("[WARNING]")
    assert len(report["history"]) >= 1 and report["history"][-1]["date"] == report["date"]


def query_figure(query: str) -> str:
    from freshtrack_ops.daily.checks import LOG_FIGURES

    return LOG_FIGURES[query]  # type: ignore[index]


def test_an_unreachable_host_still_makes_a_critical_report(plane: LocalPlane) -> None:
    host = "demo"
    target = plane.target(host)
    assert isinstance(target, SshTarget)
    port = target.port
    plane.update_target(host, port=free_port())  # nothing listens there: SSH cannot connect
    try:
        ex = plane.run("daily-check", {"host": host})
    finally:
        plane.update_target(host, port=port)
    report = _report(plane, _output(ex)["json_key"])
    assert report["verdict"] == "critical"
    assert {f["check"] for f in report["findings"] if f["level"] == "critical"} >= {"host"}


def test_an_unknown_host_is_refused_and_nothing_is_stored(plane: LocalPlane) -> None:
    before = plane.object_keys("reports/")
    ex = plane.run("daily-check", {"host": "nope"})
    assert ex.status == "FAILED"
    assert "nope" in (ex.cause or "")
    assert plane.object_keys("reports/") == before


def test_a_report_that_cannot_be_written_fails_the_execution_and_says_so(plane: LocalPlane) -> None:
    """The failure path: the report task without its reports grant is refused by S3 (as in AWS); the execution
    explains the error, notifies "no report" and fails; the next run with the grant writes the report."""
    original = TASKS["DailyCheckReport"]
    TASKS["DailyCheckReport"] = dataclasses.replace(original, grants=original.grants - {"reports"})
    seen = len(plane.notifications())
    try:
        plane.reload_task_policies()
        ex = plane.run("daily-check", {"host": "demo"})
    finally:
        TASKS["DailyCheckReport"] = original
        plane.reload_task_policies()
    assert ex.status == "FAILED"
    assert "ftops-local-DailyCheckReport is not authorized" in str(ex.cause) and "s3:" in str(ex.cause)
    assert plane.take_iam_denials()
    (note,) = plane.notifications()[seen:]
    assert note["Subject"] == "FreshTrack daily check demo: no report"
    assert _output(plane.run("daily-check", {"host": "demo"}))["verdict"] == "ok"
