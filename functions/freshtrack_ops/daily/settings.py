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

    warning: float = Field(ge=0, description="At or above this the figure is a warning.")
    critical: float = Field(ge=0, description="At or above this the figure is critical (not below `warning`).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.critical < self.warning:
            raise ValueError(f"critical: must not be below warning {self.warning:g} (got {self.critical:g})")
        return self


class FirewallRule(BaseModel):
    """One inbound rule ``ufw status`` must list: ``<port>/<proto>  <action> IN  <source>`` (the manual's "Add
    custom rule" example is port 5432, source 10.0.0.0/8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535, description="The port of the rule.", examples=[5432])
    proto: Literal["tcp", "udp"] = Field(default="tcp", description="The protocol.")
    action: Literal["ALLOW", "LIMIT"] = Field(
        default="ALLOW", description="What ufw does with the traffic: allow, or allow with rate limiting."
    )
    source: Annotated[str, Field(pattern=r"^(Anywhere|[0-9a-fA-F.:/]{2,43})$")] = Field(
        default="Anywhere",
        description="Where the traffic may come from: `Anywhere`, an address or a network.",
        examples=["10.0.0.0/8"],
    )

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

    enabled: bool = Field(
        default=True, description="Off: no schedule and no daily-check alarms for this target (its dashboard stays)."
    )
    schedule: Annotated[str, AfterValidator(scheduler_cron)] = Field(
        default="cron(0 7 * * ? *)",
        description="When the daily check runs (UTC); the manual's checks are a morning routine.",
    )
    cpu_percent: Band = Field(
        default=Band(warning=70, critical=90),
        description="CPU % of the busiest container (`docker stats`): warning and critical levels.",
    )
    memory_percent: Band = Field(
        default=Band(warning=80, critical=95),
        description="Memory % of the busiest container: warning and critical levels.",
    )
    disk_percent: Band = Field(
        default=Band(warning=70, critical=85),
        description="Disk use % of the app directory's and the root filesystem: warning and critical levels.",
    )
    certificate_warning_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="A served certificate with fewer days left is a warning (the manual's alert: < 30 days).",
    )
    certificate_critical_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description=("Fewer days left (or expired, or none served) is critical; at most `certificate_warning_days`."),
    )
    backup_age_hours: Band = Field(
        default=Band(warning=25, critical=26),
        description=(
            "Hours since the newest verified backup: warning and critical levels (the RPO alarm's 26 h "
            "is the default critical one)."
        ),
    )
    log_window_hours: int = Field(default=24, ge=1, le=168, description="How far back the log queries look.")
    log_samples: int = Field(
        default=3,
        ge=0,
        le=10,
        description="How many sample lines each log query keeps (cut to 300 characters, redacted).",
    )
    slow_request_ms: int = Field(
        default=1000,
        ge=1,
        le=600_000,
        description=('The manual\'s "Slow requests (> 1s)": a backend line whose `response_time` (ms) is above this.'),
    )
    log_bands: dict[LogQuery, Band] = Field(
        default_factory=lambda: dict(DEFAULT_LOG_BANDS),
        description=(
            "Per log query, how many matching lines in the window make a warning / a critical finding. "
            "Defaults: backend_errors 10/100, slow_requests 50/500, auth_failures 20/200, "
            "database_errors 1/20, caddy_4xx 500/5000, caddy_5xx 1/50."
        ),
    )
    firewall_rules: tuple[FirewallRule, ...] = Field(
        default=DEFAULT_FIREWALL_RULES,
        description=(
            "Inbound rules `ufw status` must list, and nothing else allowed (drift is a warning); the "
            "default is the manual's 22, 80 and 443/tcp from anywhere."
        ),
    )
    fail2ban_jail: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = Field(
        default="sshd",
        description=("The fail2ban jail whose bans are reported (and that the service workflow's unban works on)."),
    )
    history_days: int = Field(
        default=30, ge=2, le=366, description="How many days of history the report's charts show."
    )

    @model_validator(mode="after")
    def _certificate_levels(self) -> Self:
        if self.certificate_critical_days > self.certificate_warning_days:
            raise ValueError(
                "certificate_critical_days: must not be above certificate_warning_days "
                f"{self.certificate_warning_days} (got {self.certificate_critical_days})"
            )
        return self
