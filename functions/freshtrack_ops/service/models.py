"""A service operation request: the manual's "Service Management", "Emergency Procedures" and fail2ban unban."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.models import HostRef, Reason, ServiceRef, Strict

ServiceAction = Literal[
    "start",  # docker compose up -d [SERVICE]  (the manual's "Start all services"; start of one service)
    "stop",  # docker compose stop SERVICE, or docker compose down (all; preserves data)
    "restart",  # docker compose restart [SERVICE]
    "status",  # docker compose ps
    "logs",  # docker compose logs --tail N / --since S [SERVICE], saved to S3 (redacted)
    "emergency-stop",  # docker compose down --timeout 5
    "emergency-restart",  # docker compose down --timeout 10 && docker compose up -d
    "force-rebuild",  # docker compose down; docker compose build --no-cache; docker compose up -d
    "unban",  # fail2ban-client set <jail> unbanip IP
]
#: actions that take services down: they need the typed confirmation (the target's id)
DESTRUCTIVE_ACTIONS: frozenset[str] = frozenset(
    {"stop", "restart", "emergency-stop", "emergency-restart", "force-rebuild"}
)
#: actions that read and change nothing
READ_ONLY_ACTIONS: frozenset[str] = frozenset({"status", "logs"})
#: `docker compose logs --since` values: a duration (``30m``, ``2h``, ``1d``) or an RFC 3339 UTC time
SINCE_PATTERN = r"^([1-9][0-9]{0,4}[smhd]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$"
#: one IPv4 address or an IPv6 address (hex groups and colons); checked again with ipaddress
IP_PATTERN = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]{2,39})$"
MAX_LOG_LINES = 10_000


class ServiceRequest(Strict):
    """Execution input of the service workflow (opsctl, the console)."""

    host: HostRef = Field(description="Target id from the deployment configuration.")
    action: ServiceAction = Field(description="What to do (docs/daily-operations.md).")
    service: ServiceRef | None = Field(
        default=None, description="The compose service to act on; none: every service (not for unban)."
    )
    tail: int | None = Field(default=None, ge=1, le=MAX_LOG_LINES, description="logs: the last N lines.")
    since: Annotated[str, StringConstraints(pattern=SINCE_PATTERN)] | None = Field(
        default=None, description="logs: the lines since a duration (30m, 2h, 1d) or an RFC 3339 UTC time."
    )
    ip: Annotated[str, StringConstraints(pattern=IP_PATTERN)] | None = Field(
        default=None, description="unban: the address fail2ban should unban."
    )
    confirm: str | None = Field(default=None, max_length=64, description="Destructive actions: the target's id, typed.")
    reason: Reason = Field(default="", description="Free text kept in the audit entry and notification.")
