"""What a target's ``remediation`` section holds: rules that map an alert to an action, and the guard's limits.

The manual's default Prometheus alerts (ServiceDown, HighMemoryUsage, HighCpuUsage, SslCertificateExpiring,
DiskSpaceLow) map to the manual's troubleshooting steps by default (``DEFAULT_RULES``); an alert no rule matches is
notify-only. Rules are tried in order, the first match wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: Prometheus' metric/label name rules for an alert name
ALERT_NAME_PATTERN = r"^[A-Za-z_:][A-Za-z0-9_:]{0,127}$"
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
SERVICE_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"

AlertName = Annotated[str, StringConstraints(pattern=ALERT_NAME_PATTERN)]
LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=1024)]
ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_PATTERN)]

#: what a rule can do, each one of the manual's troubleshooting steps (docs/remediation.md)
Action = Literal[
    "compose-up",  # a service down: `docker compose up -d [SERVICE]`
    "restart-service",  # 502 / a hung service: `docker compose restart SERVICE`
    "disk-cleanup",  # disk low: `docker system prune -af` (never --volumes), df before/after
    "restart-top-memory",  # high memory: restart the top consumer of `docker stats` among an allowed list
    "certificate-check",  # certificate expiring: openssl s_client expiry, restart Caddy, check again
    "notify-only",  # tell a person; the default for any alert without a rule
]
ACTIONS: tuple[Action, ...] = (
    "compose-up",
    "restart-service",
    "disk-cleanup",
    "restart-top-memory",
    "certificate-check",
    "notify-only",
)
#: actions that change the host (everything but notify-only): they take the host lock and pass the guard
HOST_ACTIONS: frozenset[str] = frozenset(ACTIONS) - {"notify-only"}


class AlertRule(BaseModel):
    """``alert`` plus label matchers (exact values) → ``action``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: AlertName = Field(
        description="The alert name (`alertname` label) the rule matches.", examples=["ServiceDown"]
    )
    matchers: dict[LabelName, LabelValue] = Field(
        default_factory=dict,
        description="Labels the alert must carry with exactly these values.",
        examples=[{"service": "backend"}],
    )
    action: Action = Field(description="What to do: one of the manual's troubleshooting steps (docs/remediation.md).")
    service: ServiceName | None = Field(
        default=None,
        description=(
            "The service the action works on: restart-service needs one; compose-up takes the alert's "
            "`service` label when the rule names none (and all services when neither does); no other "
            "action takes one."
        ),
    )

    @model_validator(mode="after")
    def _service_where_needed(self) -> Self:
        if self.action == "restart-service" and self.service is None:
            raise ValueError("service: restart-service needs the service to restart (got None)")
        if self.service is not None and self.action not in ("restart-service", "compose-up"):
            raise ValueError(f"service: only restart-service and compose-up take a service (got {self.service!r})")
        return self

    def matches(self, alertname: str, labels: Mapping[str, str]) -> bool:
        return alertname == self.alert and all(labels.get(k) == v for k, v in self.matchers.items())


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(alert="ServiceDown", action="compose-up"),
    AlertRule(alert="BadGateway", action="restart-service", service="backend"),
    AlertRule(alert="DiskSpaceLow", action="disk-cleanup"),
    AlertRule(alert="HighMemoryUsage", action="restart-top-memory"),
    AlertRule(alert="SslCertificateExpiring", action="certificate-check"),
    AlertRule(alert="HighCpuUsage", action="notify-only"),
)


class RemediationSettings(BaseModel):
    """A target's alert remediation (docs/remediation.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Off: every alert is recorded and notified, nothing acts.")
    rules: tuple[AlertRule, ...] = Field(
        default=DEFAULT_RULES,
        description=(
            "First match wins: the alert name and exact label values select an action (`AlertRule`). "
            "Defaults: ServiceDown → compose-up, BadGateway → restart-service backend, DiskSpaceLow → "
            "disk-cleanup, HighMemoryUsage → restart-top-memory, SslCertificateExpiring → "
            "certificate-check, HighCpuUsage → notify-only; anything else notify-only."
        ),
    )
    dry_run: bool = Field(default=False, description="Every action is planned and reported, nothing runs on the host.")
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description=(
            "At most this many actions per (host, action) in `window_s`; past it one escalation (SNS, "
            "`RemediationEscalations`) and no action."
        ),
    )
    window_s: int = Field(
        default=3600, ge=60, le=7 * 86_400, description="The window `max_attempts` counts in (seconds)."
    )
    breaker_failures: int = Field(
        default=2,
        ge=1,
        le=100,
        description=(
            "This many failed actions in a row for one (host, action) open the circuit for `cooldown_s`"
            " (one escalation), then one trial."
        ),
    )
    cooldown_s: int = Field(
        default=3600, ge=60, le=7 * 86_400, description="How long an open circuit stays open (seconds)."
    )
    lock_wait_s: int = Field(
        default=60,
        ge=0,
        le=900,
        description="How long a remediation waits for the host lock before giving way to the running workflow.",
    )
    lock_lease_seconds: int = Field(
        default=900, ge=120, le=86_400, description="The host lock's lease while a remediation runs."
    )
    verify_timeout_s: int = Field(
        default=120,
        ge=5,
        le=1800,
        description=(
            "How long verification re-checks the alert's condition (every 5 s) before the action counts as failed."
        ),
    )
    disk_threshold_percent: int = Field(
        default=85,
        ge=1,
        le=100,
        description=(
            "disk-cleanup succeeds when the app filesystem's use is below this (the manual's critical disk level)."
        ),
    )
    memory_restart_allowed: tuple[ServiceName, ...] = Field(
        default=("backend", "worker"),
        description="restart-top-memory only ever restarts one of these (services of `compose_services`).",
    )
    certificate_min_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description=(
            "certificate-check succeeds when the served certificate is valid this many more days (the "
            "manual's alert threshold)."
        ),
    )
    certificate_port: int = Field(
        default=443,
        ge=1,
        le=65535,
        description=(
            "Where `openssl s_client -connect 127.0.0.1:PORT -servername DOMAIN` reads the certificate on the host."
        ),
    )
    caddy_service: ServiceName = Field(
        default="caddy",
        description="The service Caddy runs as (one of `compose_services`): what certificate-check restarts.",
    )

    def rule_for(self, alertname: str, labels: Mapping[str, str]) -> AlertRule | None:
        return next((rule for rule in self.rules if rule.matches(alertname, labels)), None)
