"""The daily check's judgement: the host's facts against the target's thresholds (daily/checks.py, judge.py),
the report and its notification (daily/report.py, run.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from freshtrack_ops.config import LocalTarget
from freshtrack_ops.daily.facts import docker_size, parse_facts
from freshtrack_ops.daily.judge import judge
from freshtrack_ops.daily.judgement import BackupState, HealthAnswer, Judgement
from freshtrack_ops.daily.models import DailyPlan, Finding, HistoryPoint
from freshtrack_ops.daily.report import notification
from freshtrack_ops.daily.run import DailyInputs, DailyPorts, run_daily_report
from freshtrack_ops.explain import CaughtError
from freshtrack_ops.models import HealthResult
from freshtrack_ops.ports import CatalogEntry

TARGET = LocalTarget(id="demo", domain="demo.example.com")
HEALTHY = HealthAnswer(True, "https://demo.example.com/api/health answered 200")
FRESH_BACKUP = BackupState(backup_id="20261130T020000Z-abc", age_hours=5.0, size_bytes=50 * 1024 * 1024)
SERVICES = ("backend", "worker", "postgres", "redis", "caddy")


def healthy_lines() -> list[str]:
    lines = [f"service.{name}=running" for name in SERVICES]
    for name, cpu, mem in zip(SERVICES, (12.5, 3.1, 7.0, 0.5, 0.2), (31.0, 12.0, 22.0, 2.0, 1.0), strict=True):
        lines += [f"stats.{name}.cpu={cpu}", f"stats.{name}.mem={mem}", f"stats.{name}.mem_usage=512MiB / 2GiB"]
    for which in ("app", "root"):
        lines += [
            f"disk.{which}.used_percent=41",
            f"disk.{which}.size_kb=100000000",
            f"disk.{which}.used_kb=41000000",
            f"disk.{which}.available_kb=59000000",
            f"disk.{which}.mount=/",
        ]
    lines += [
        "docker_df.images.size=3.2GB",
        "docker_df.images.reclaimable=1.1GB (34%)",
        "docker_df.images.count=7",
        "docker_df.build_cache.size=500MB",
        "docker_df.build_cache.reclaimable=500MB",
        "cert.not_after=2027-02-01T00:00:00Z",
        f"cert.seconds_left={60 * 86_400}",
        "log.window=24h",
        *(f"log.{q}.count=0" for q in ("backend_errors", "slow_requests", "auth_failures", "database_errors")),
        "log.caddy_4xx.count=12",
        "log.caddy_5xx.count=0",
        "ufw.status=active",
        "ufw.default_incoming=deny",
    ]
    for port in (22, 80, 443):
        lines += [f"ufw.rule={port}/tcp|ALLOW IN|Anywhere", f"ufw.rule={port}/tcp (v6)|ALLOW IN|Anywhere (v6)"]
    lines += [
        "fail2ban.status=running",
        "fail2ban.currently_failed=1",
        "fail2ban.currently_banned=0",
        "fail2ban.total_banned=4",
        "system.reboot_required=no",
        "system.updates=3",
        "system.security_updates=0",
    ]
    return lines


def facts_with(*changes: str, drop: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The healthy facts, with ``changes`` (``key=value``) replacing every value of their keys."""
    lines = [line for line in healthy_lines() if not line.startswith(drop)] if drop else healthy_lines()
    changed = {change.partition("=")[0] for change in changes}
    lines = [line for line in lines if line.partition("=")[0] not in changed] + list(changes)
    return parse_facts("\n".join(lines))


def finding(result: Judgement, check: str) -> Finding:
    (found,) = [f for f in result.findings if f.check == check]
    return found


def test_a_healthy_host_is_ok_on_every_check_with_every_figure() -> None:
    result = judge(TARGET, facts_with(), HEALTHY, FRESH_BACKUP)
    assert result.verdict == "ok", [f for f in result.findings if f.level != "ok"]
    checks = [f.check for f in result.findings]
    assert checks[:5] == ["health", "services", "cpu", "memory", "disk"]
    assert {"certificate", "backup", "firewall", "fail2ban", "reboot", "updates", "logs.caddy_5xx"} <= set(checks)
    assert "disk-root" not in checks  # / is the app's filesystem here: judged once
    assert result.figures["CpuPercentMax"] == 12.5
    assert result.figures["MemoryPercentMax"] == 31.0
    assert result.figures["DiskUsedPercent"] == 41
    assert result.figures["Caddy4xx"] == 12
    assert result.figures["DockerReclaimableBytes"] == 1_600_000_000
    assert result.figures["FindingsCritical"] == 0
    assert result.figures["CertificateDaysLeft"] == pytest.approx(60)


@pytest.mark.parametrize(
    ("change", "check", "level"),
    [
        ("stats.backend.cpu=70.0", "cpu", "warning"),
        ("stats.worker.cpu=90.0", "cpu", "critical"),
        ("stats.backend.mem=80.0", "memory", "warning"),
        ("stats.postgres.mem=95.5", "memory", "critical"),
        ("disk.app.used_percent=70", "disk", "warning"),
        ("disk.app.used_percent=85", "disk", "critical"),
        ("service.worker=exited", "services", "critical"),
        (f"cert.seconds_left={29 * 86_400}", "certificate", "warning"),
        (f"cert.seconds_left={6 * 86_400}", "certificate", "critical"),
        ("cert.seconds_left=-10", "certificate", "critical"),
        ("log.backend_errors.count=10", "logs.backend_errors", "warning"),
        ("log.caddy_5xx.count=50", "logs.caddy_5xx", "critical"),
        ("log.database_errors.count=1", "logs.database_errors", "warning"),
        ("ufw.status=inactive", "firewall", "critical"),
        ("ufw.default_incoming=allow", "firewall", "critical"),
        ("fail2ban.status=not running", "fail2ban", "warning"),
        ("system.reboot_required=yes", "reboot", "warning"),
        ("system.security_updates=2", "updates", "warning"),
    ],
)
def test_each_threshold_crossed_gives_its_finding_and_level(change: str, check: str, level: str) -> None:
    result = judge(TARGET, facts_with(change), HEALTHY, FRESH_BACKUP)
    assert finding(result, check).level == level
    assert result.verdict == level
    assert [f.check for f in result.findings if f.level != "ok"] == [check]


def test_just_below_a_warning_level_is_ok() -> None:
    result = judge(TARGET, facts_with("stats.backend.cpu=69.9", "disk.app.used_percent=69"), HEALTHY, FRESH_BACKUP)
    assert result.verdict == "ok"


def test_firewall_drift_names_every_difference() -> None:
    facts = facts_with(
        "ufw.rule=22/tcp|ALLOW IN|Anywhere",
        "ufw.rule=5432/tcp|ALLOW IN|Anywhere",
        "ufw.rule=8080/tcp (v6)|ALLOW IN|Anywhere (v6)",
        "ufw.rule=443/tcp|ALLOW IN|Anywhere",
        "ufw.rule=25/tcp|DENY IN|Anywhere",
    )
    result = finding(judge(TARGET, facts, HEALTHY, FRESH_BACKUP), "firewall")
    assert result.level == "warning"
    assert result.samples == (
        "missing: 80/tcp ALLOW from Anywhere",
        "not expected: 5432/tcp ALLOW from Anywhere",
        "not expected: 8080/tcp ALLOW from Anywhere",
    )


def test_a_custom_rule_in_the_config_is_not_drift() -> None:
    from freshtrack_ops.daily.settings import DEFAULT_FIREWALL_RULES, DailyCheckSettings, FirewallRule

    internal = FirewallRule(port=5432, source="10.0.0.0/8")
    target = TARGET.model_copy(
        update={"daily_check": DailyCheckSettings(firewall_rules=(*DEFAULT_FIREWALL_RULES, internal))}
    )
    facts = parse_facts("\n".join([*healthy_lines(), "ufw.rule=5432/tcp|ALLOW IN|10.0.0.0/8"]))
    assert finding(judge(target, facts, HEALTHY, FRESH_BACKUP), "firewall").level == "ok"


def test_banned_ips_are_reported_with_their_count() -> None:
    facts = facts_with(
        "fail2ban.currently_banned=2", "fail2ban.banned_ip=203.0.113.5", "fail2ban.banned_ip=198.51.100.7"
    )
    result = judge(TARGET, facts, HEALTHY, FRESH_BACKUP)
    assert finding(result, "fail2ban").samples == ("203.0.113.5", "198.51.100.7")
    assert result.figures["BannedIps"] == 2


def test_a_reader_that_failed_on_the_host_is_a_warning_never_ok() -> None:
    facts = facts_with("ufw.error=ufw: command not found", drop=("ufw.",))
    result = finding(judge(TARGET, facts, HEALTHY, FRESH_BACKUP), "firewall")
    assert (result.level, result.summary) == ("warning", "could not read: ufw: command not found")


def test_a_missing_figure_is_absent_never_zero() -> None:
    result = judge(TARGET, facts_with(drop=("stats.",)), HEALTHY, FRESH_BACKUP)
    assert "CpuPercentMax" not in result.figures
    assert finding(result, "cpu").level == "warning"


def test_no_verified_backup_and_a_failed_health_check_are_critical() -> None:
    result = judge(TARGET, facts_with(), HealthAnswer(False, "502"), BackupState(None, None, None))
    assert finding(result, "health").level == "critical"
    assert finding(result, "backup").level == "critical"
    assert [f.level for f in result.ordered()][:2] == ["critical", "critical"]


def test_log_samples_are_kept_redacted() -> None:
    line = 'log.backend_errors.sample={"level":"error","msg":"upload failed https://b.s3.amazonaws.com/x?X-Amz-Signature=abc123"}'
    facts = parse_facts("\n".join([*healthy_lines(), "log.backend_errors.count=12", line]))
    (sample,) = finding(judge(TARGET, facts, HEALTHY, FRESH_BACKUP), "logs.backend_errors").samples
    assert "abc123" not in sample and "<redacted>" in sample


def test_docker_sizes_are_read_in_decimal_units() -> None:
    assert docker_size("1.2GB") == 1_200_000_000
    assert docker_size("300MB (25%)") == 300_000_000
    assert docker_size("0B") == 0
    assert docker_size("n/a") is None


class _History:
    def __init__(self) -> None:
        self.points: dict[str, HistoryPoint] = {}

    def put(self, host: str, date: str, figures: dict[str, float], verdict: str, *, now_epoch: int) -> None:
        self.points[date] = HistoryPoint(date=date, figures=dict(figures))

    def since(self, host: str, first_date: str, last_date: str) -> list[HistoryPoint]:
        return [p for d, p in sorted(self.points.items()) if first_date <= d <= last_date]


class _Reports:
    bucket = "ops-bucket"

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, str]] = {}

    def put(self, key: str, body: str, content_type: str) -> None:
        self.objects[key] = (body, content_type)


def _ports(history: _History, reports: _Reports, entries: list[CatalogEntry]) -> DailyPorts:
    return DailyPorts(
        history=history,
        reports=reports,
        list_backups=lambda host: entries,
        render_html=lambda report: f"<html>{report.verdict}</html>",
        region="eu-west-1",
    )


def test_the_report_keeps_history_and_the_notification_leads_with_what_needs_attention() -> None:
    history, reports = _History(), _Reports()
    for day in range(1, 30):
        history.points[f"2026-11-{day:02d}"] = HistoryPoint(date=f"2026-11-{day:02d}", figures={"DiskUsedPercent": 40})
    history.points["2026-10-15"] = HistoryPoint(date="2026-10-15", figures={"DiskUsedPercent": 1})  # out of window
    entry = CatalogEntry("demo", "b1", "backups/demo/b1.dump", "backups/demo/b1.json", 1234, "2026-11-30T02:00:00Z",
                         verification_status="passed")  # fmt: skip
    inputs = DailyInputs(
        facts=facts_with("disk.app.used_percent=90", "system.reboot_required=yes"),
        collect_error=None,
        health=HealthResult(url="https://demo.example.com/api/health", http_status=200, services={}),
        health_error=None,
    )
    plan = DailyPlan(host="demo", date="2026-11-30", trigger="schedule", reason="")
    now = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    outcome = run_daily_report(TARGET, plan, inputs, _ports(history, reports, [entry]), now=now, execution_id="exec-1")
    report = outcome.report
    assert report.verdict == "critical"
    assert [p.date for p in report.history] == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert report.history[-1].figures["DiskUsedPercent"] == 90
    assert set(reports.objects) == {"reports/demo/daily/2026-11-30.json", "reports/demo/daily/2026-11-30.html"}
    assert reports.objects["reports/demo/daily/2026-11-30.html"][1] == "text/html; charset=utf-8"
    assert history.points["2026-11-30"].figures["BackupAgeHours"] == pytest.approx(5.0)
    assert outcome.subject == "FreshTrack daily check demo: CRITICAL (1 critical, 1 warning(s))"
    lines = outcome.message.splitlines()
    assert lines[3].startswith("- [CRITICAL] disk: / is 90% used")
    assert lines[4].startswith("- [WARNING] reboot:")
    assert "X-Amz-" not in outcome.message  # a console link, never a presigned URL
    assert "s3://ops-bucket/reports/demo/daily/2026-11-30.html" in outcome.message


def test_a_host_that_could_not_be_read_still_makes_a_critical_report() -> None:
    history, reports = _History(), _Reports()
    inputs = DailyInputs(
        facts=None,
        collect_error=CaughtError(Error="HostUnreachable", Cause="ssh: connect to 127.0.0.1 port 2222 refused"),
        health=None,
        health_error=CaughtError(Error="HostUnreachable", Cause="ssh: connect refused"),
    )
    plan = DailyPlan(host="demo", date="2026-11-30", trigger="schedule", reason="")
    now = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    outcome = run_daily_report(TARGET, plan, inputs, _ports(history, reports, []), now=now, execution_id="exec-2")
    checks = {f.check: f.level for f in outcome.report.findings}
    assert checks == {"health": "critical", "backup": "critical", "host": "critical"}
    assert "HostUnreachable" in outcome.message
    assert outcome.report.figures == {"FindingsCritical": 3, "FindingsWarning": 0}


def test_an_all_ok_notification_says_so() -> None:
    result = judge(TARGET, facts_with(), HEALTHY, FRESH_BACKUP)
    from freshtrack_ops.daily.report import build_report

    report = build_report(TARGET, result, day="2026-11-30", now=datetime(2026, 11, 30, tzinfo=UTC),
                          execution_id="e", earlier=[])  # fmt: skip
    subject, message = notification(report, region="eu-west-1", bucket="b", html_key="k.html", json_key="k.json")
    assert subject == "FreshTrack daily check demo: OK (all checks ok)"
    assert "Nothing needs attention" in message
