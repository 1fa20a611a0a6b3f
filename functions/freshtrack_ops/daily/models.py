"""The daily check's request, findings and report (the JSON stored in S3 and rendered as HTML)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from freshtrack_ops.config import HostId
from freshtrack_ops.fields import HostRef, Reason, Strict, Trigger

Level = Literal["ok", "warning", "critical"]
#: worst first: the order findings are listed in, and ``max`` over it is a report's verdict
LEVEL_RANK: dict[Level, int] = {"ok": 0, "warning": 1, "critical": 2}

#: the figures every report carries (also the EMF metric names, the dashboard's and the charts' series); a figure
#: the host could not read is absent, never zero
FIGURES: dict[str, str] = {
    "DiskUsedPercent": "Disk used by the app directory's filesystem (%)",
    "RootDiskUsedPercent": "Disk used on / (%)",
    "MemoryPercentMax": "The highest container memory use (% of its limit)",
    "CpuPercentMax": "The highest container CPU use (%)",
    "DockerReclaimableBytes": "What docker system prune could reclaim (bytes)",
    "CertificateDaysLeft": "Days the served certificate is still valid",
    "BackupAgeHours": "Hours since the newest verified backup",
    "BackupSizeBytes": "Size of the newest verified backup (bytes)",
    "BackendErrors": "Backend log lines with 'error' in the window",
    "SlowRequests": "Backend requests slower than slow_request_ms in the window",
    "AuthFailures": "'authentication failed' lines in the window",
    "DatabaseErrors": "Backend lines with 'database' and 'error' in the window",
    "Caddy4xx": "Caddy access log 4xx responses in the window",
    "Caddy5xx": "Caddy access log 5xx responses in the window",
    "BannedIps": "IPs fail2ban currently bans in the jail",
    "SecurityUpdates": "Pending security updates",
    "FindingsCritical": "Critical findings",
    "FindingsWarning": "Warning findings",
}


class DailyCheckRequest(Strict):
    """Execution input of the daily-check workflow (the schedule's, or an operator's)."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    trigger: Trigger = Field(default="console", description="What started the check (schedules say schedule)")
    reason: Reason = Field(default="", description="Free text shown in the report")


class DailyPlan(Strict):
    """What Validate hands the workflow: the target, the UTC day the check is for, and why it runs."""

    host: HostRef
    date: str
    trigger: Trigger
    reason: Reason


class ValidateDailyEvent(Strict):
    request: dict[str, object]
    started_at: datetime


class DailyHostEvent(Strict):
    """What the Collect state passes the host step."""

    host: HostRef


class DailyFacts(Strict):
    """daily_check.sh's output as facts (daily/facts.py): key -> values, samples already redacted."""

    facts: dict[str, list[str]]


class Finding(BaseModel):
    """One check's result: ``check`` names it (``health``, ``services``, ``cpu``, ``memory``, ``disk``,
    ``docker-disk``, ``certificate``, ``backup``, ``logs.<query>``, ``firewall``, ``fail2ban``, ``reboot``,
    ``updates``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    level: Level
    summary: str
    #: redacted sample lines (log queries) or details (firewall drift)
    samples: tuple[str, ...] = ()


class HistoryPoint(BaseModel):
    """One earlier day's figures, for the charts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: str
    figures: dict[str, float]


class DailyReport(BaseModel):
    """The whole report: S3 keeps it as JSON, the HTML page renders it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: HostId
    domain: str
    #: the UTC day the report is for (YYYY-MM-DD) and when it was made (ISO 8601, UTC)
    date: str
    generated_at: str
    execution_id: str
    verdict: Level
    #: findings worst first (critical, warning, ok), in check order within a level
    findings: tuple[Finding, ...]
    figures: dict[str, float]
    #: the last ``history_days`` days, oldest first, today's included
    history: tuple[HistoryPoint, ...] = Field(default=())
    #: the thresholds the findings used, for the page's legend (e.g. {"disk_percent": "70/85"})
    thresholds: dict[str, str] = Field(default_factory=dict)

    def attention(self) -> tuple[Finding, ...]:
        """What needs attention first: the critical findings, then the warnings."""
        return tuple(f for f in self.findings if f.level != "ok")
