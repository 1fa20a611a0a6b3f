"""What a target's ``daily_check`` section holds: when the check runs and the thresholds it judges against.

The defaults are the manual's: "Key metrics to watch" (CPU 70/90 %, memory 80/95 %, disk 70/85 %), its default
alert "SSL certificate expiring (< 30 days)", its "Log Analysis" queries over the last day, and the firewall
rules "configured by deployment" (SSH, HTTP, HTTPS allowed; all other inbound denied).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from freshtrack_ops.schedules import scheduler_cron

#: the manual's "Useful log queries" plus its Caddy 4xx/5xx grep, by the name reports and metrics use
LogQuery = Literal["backend_errors", "slow_requests", "auth_failures", "database_errors", "caddy_4xx", "caddy_5xx"]
LOG_QUERIES: tuple[LogQuery, ...] = (
    "backend_errors",
    "slow_requests",
    "auth_failures",
    "database_errors",
    "caddy_4xx",
    "caddy_5xx",
)


class Band(BaseModel):
    """A figure's warning and critical levels: at or above ``warning`` is a warning, at or above ``critical``
    critical."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning: float = Field(ge=0)
    critical: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.critical < self.warning:
            raise ValueError(f"critical: must not be below warning {self.warning:g} (got {self.critical:g})")
        return self


class FirewallRule(BaseModel):
    """One inbound rule ``ufw status`` must list: ``<port>/<proto>  <action> IN  <source>`` (the manual's "Add
    custom rule" example is port 5432, source 10.0.0.0/8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"
    action: Literal["ALLOW", "LIMIT"] = "ALLOW"
    source: Annotated[str, Field(pattern=r"^(Anywhere|[0-9a-fA-F.:/]{2,43})$")] = "Anywhere"

    @property
    def key(self) -> str:
        return f"{self.port}/{self.proto} {self.action} from {self.source}"


#: the manual's "Default rules (configured by deployment)"
DEFAULT_FIREWALL_RULES: tuple[FirewallRule, ...] = (
    FirewallRule(port=22),
    FirewallRule(port=80),
    FirewallRule(port=443),
)

#: per log query: how many matching lines in the window make a warning / a critical finding
DEFAULT_LOG_BANDS: dict[LogQuery, Band] = {
    "backend_errors": Band(warning=10, critical=100),
    "slow_requests": Band(warning=50, critical=500),
    "auth_failures": Band(warning=20, critical=200),
    "database_errors": Band(warning=1, critical=20),
    "caddy_4xx": Band(warning=500, critical=5000),
    "caddy_5xx": Band(warning=1, critical=50),
}


class DailyCheckSettings(BaseModel):
    """A target's daily check (docs/daily-operations.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: EventBridge Scheduler expression (UTC); the manual's checks are a morning routine
    schedule: Annotated[str, AfterValidator(scheduler_cron)] = "cron(0 7 * * ? *)"
    cpu_percent: Band = Band(warning=70, critical=90)
    memory_percent: Band = Band(warning=80, critical=95)
    disk_percent: Band = Band(warning=70, critical=85)
    #: a certificate with fewer days left is a warning (the manual's alert: < 30 days), fewer than
    #: ``certificate_critical_days`` (or expired) critical
    certificate_warning_days: int = Field(default=30, ge=0, le=365)
    certificate_critical_days: int = Field(default=7, ge=0, le=365)
    #: hours since the newest verified backup: the RPO alarm's 26 h is the default critical level
    backup_age_hours: Band = Band(warning=25, critical=26)
    #: how far back the log queries look, and how many sample lines each keeps
    log_window_hours: int = Field(default=24, ge=1, le=168)
    log_samples: int = Field(default=3, ge=0, le=10)
    #: the manual's "Slow requests (> 1s)": a backend line whose ``response_time`` (ms) is above this
    slow_request_ms: int = Field(default=1000, ge=1, le=600_000)
    log_bands: dict[LogQuery, Band] = Field(default_factory=lambda: dict(DEFAULT_LOG_BANDS))
    #: inbound rules ``ufw status`` must list, and nothing else allowed (drift is a warning)
    firewall_rules: tuple[FirewallRule, ...] = DEFAULT_FIREWALL_RULES
    #: the fail2ban jail whose bans are reported (and that the service workflow's unban works on)
    fail2ban_jail: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "sshd"
    #: how many days of history the report's charts show
    history_days: int = Field(default=30, ge=2, le=366)

    @model_validator(mode="after")
    def _certificate_levels(self) -> Self:
        if self.certificate_critical_days > self.certificate_warning_days:
            raise ValueError(
                "certificate_critical_days: must not be above certificate_warning_days "
                f"{self.certificate_warning_days} (got {self.certificate_critical_days})"
            )
        return self
