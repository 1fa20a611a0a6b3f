"""A service operation request: the manual's "Service Management", "Emergency Procedures" and fail2ban unban."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.config import DOCKER_SINCE_PATTERN, IP_PATTERN, MAX_LOG_LINES
from freshtrack_ops.fields import HostRef, Reason, ServiceRef, Strict

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


class ServiceRequest(Strict):
    """Execution input of the service workflow (opsctl, the console)."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    action: ServiceAction = Field(
        description=(
            "What to do: start, stop, restart, status, logs, emergency-stop, emergency-restart, force-rebuild or unban"
        )
    )
    service: ServiceRef | None = Field(
        default=None,
        description="The compose service to act on; none: every service (not for unban)",
        examples=["backend"],
    )
    tail: int | None = Field(default=None, ge=1, le=MAX_LOG_LINES, description="logs: the last N lines")
    since: Annotated[str, StringConstraints(pattern=SINCE_PATTERN)] | None = Field(
        default=None,
        description="logs: the lines since a duration (30m, 2h, 1d) or an RFC 3339 UTC time",
        examples=["2h"],
    )
    ip: Annotated[str, StringConstraints(pattern=IP_PATTERN)] | None = Field(
        default=None, description="unban: the IPv4 or IPv6 address fail2ban should unban", examples=["203.0.113.7"]
    )
    confirm: str | None = Field(default=None, max_length=64, description="Destructive actions: the target's id, typed")
    reason: Reason = Field(default="", description="Free text kept in the audit entry and the notification")


#: what the validator writes for a ``logs`` request without ``tail`` or ``since``: the manual's "Last N lines"
DEFAULT_LOG_TAIL = 200
#: ``reports/<host>/logs/<execution name>.log``: where a logs action's lines are saved (the reports grant's prefix)
LOG_KEY_PATTERN = r"^reports/[a-z0-9-]+/logs/[A-Za-z0-9_-]{1,80}\.log$"
#: an audit id of the service workflow: derived from the execution (a retried task reuses it)
SERVICE_AUDIT_ID_PATTERN = r"^service-[0-9a-f]{32}$"
DockerSince = Annotated[str, StringConstraints(pattern=DOCKER_SINCE_PATTERN)]
LogKey = Annotated[str, StringConstraints(pattern=LOG_KEY_PATTERN)]
#: a service's state as ``docker compose ps`` reports it (running, exited, ...; "absent": no container)
ServiceState = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class ValidateServiceEvent(Strict):
    """What the first state hands the validator: the raw input plus the execution's id."""

    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class ServicePlan(Strict):
    """The validated request, as the later states and the host step need it."""

    host: HostRef
    action: ServiceAction
    service: ServiceRef | None
    #: logs: the lines asked for (``DEFAULT_LOG_TAIL`` when neither tail nor since was given)
    tail: int | None
    #: logs: ``--since`` in docker's own form (days as hours)
    since: DockerSince | None
    #: unban: the address in its canonical form (``ipaddress``)
    ip: str | None
    #: unban: the target's ``daily_check.fail2ban_jail``
    jail: str | None
    destructive: bool
    #: what the action runs on the host, in order, as service.sh prints it on its ``ran=`` lines
    commands: list[str]
    log_key: LogKey | None
    audit_id: Annotated[str, StringConstraints(pattern=SERVICE_AUDIT_ID_PATTERN)]
    lock_owner: str
    lock_lease_seconds: int
    lock_poll_s: int
    #: how many more times the lock is tried (the state machine counts down)
    lock_tries: int
    #: the first line of the notification ("restart backend on demo, started by hand")
    headline: str


class ServiceHostEvent(Strict):
    """What the Act state passes the host step (the plan's fields the host needs)."""

    host: HostRef
    action: ServiceAction
    service: ServiceRef | None = None
    tail: int | None = Field(default=None, ge=1, le=MAX_LOG_LINES)
    since: DockerSince | None = None
    ip: Annotated[str, StringConstraints(pattern=IP_PATTERN)] | None = None
    log_key: LogKey | None = None


class ServiceReport(Strict):
    """What an action did: the commands that ran, each service's state after (the notification's 'after'), the
    saved log (logs) or fail2ban's answer (unban). Never the log lines themselves (state data is 256 KB at most,
    and the lines go to S3 redacted)."""

    action: ServiceAction
    service: ServiceRef | None
    commands: list[str]
    #: service -> ``docker compose ps`` State (running, exited, ...; "absent": no container)
    after: dict[str, ServiceState]
    #: service -> ``docker compose ps`` Status ("Up 2 hours (healthy)", "Exited (137) 5 minutes ago")
    status: dict[str, ServiceState]
    log_key: LogKey | None = None
    log_lines: int | None = None
    #: unban: what ``fail2ban-client set <jail> unbanip`` answered (the number of addresses unbanned)
    unbanned: str | None = None
    summary: str


ServiceOutcomeName = Literal["succeeded", "failed", "gave-way"]


class ServiceOutcome(Strict):
    """What the record task is told happened."""

    plan: ServicePlan
    outcome: ServiceOutcomeName
    act: dict[str, object] | None = None
    error: dict[str, object] | None = None


class ServiceRecord(Strict):
    """The notification the workflow publishes and, for a failure, the Fail state's error and cause."""

    subject: Annotated[str, StringConstraints(max_length=100)]
    message: str
    error_name: str
    error_cause: str
