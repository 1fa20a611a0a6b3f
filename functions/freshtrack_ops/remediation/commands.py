"""The commands each remediation action runs on the host, one table for the dry run and the host script.

``planned_commands`` is what a dry run reports (and the plan carries); ``host_scripts/remediate.sh`` prints the
same strings on its ``ran=`` lines as it runs them, so what the notification says ran is what was planned
(tests/integration/test_remediation_host_steps.py compares the two for every action). The commands that change
the host are written exactly as they run (``docker compose restart backend``, ``docker system prune -af``); the
reads around them as the operations manual writes them (``docker compose ps``, ``docker stats --no-stream``).
``docker`` stands for the target's ``docker_bin``.
"""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.errors import InvalidInput

READ_SERVICES = "docker compose ps"
READ_MEMORY = "docker stats --no-stream"
#: images and stopped containers only: never ``--volumes`` (the manual's Disk Space line has it; it would remove
#: the database's volume whenever postgres is not running)
PRUNE = "docker system prune -af"
#: where restart-top-memory's plan names the service only the host can choose (``<...>``)
_CHOSEN_ON_HOST = "<the top memory consumer of {}>"
#: the actions that take a service (compose-up: optional, all services without one)
SERVICE_ACTIONS = frozenset({"compose-up", "restart-service"})


def check_service(target: Target, action: str, service: str | None) -> None:
    """InvalidInput naming the field when ``service`` does not fit the action or is not one of the target's."""
    if action == "restart-service" and service is None:
        raise InvalidInput("service: restart-service needs the service to restart (got None)")
    if service is not None and action not in SERVICE_ACTIONS:
        raise InvalidInput(f"service: only compose-up and restart-service take a service (got {service!r})")
    if service is not None and service not in target.compose_services:
        known = ", ".join(target.compose_services)
        raise InvalidInput(f"service: not a service of target {target.id!r} ({known}) (got {service!r})")


def watched_services(target: Target, action: str, service: str | None) -> tuple[str, ...]:
    """The services whose state an action reports and its check reads: the one acted on (compose-up without one:
    all of them), or restart-top-memory's allowed list."""
    if action in SERVICE_ACTIONS:
        return (service,) if service else target.compose_services
    if action == "restart-top-memory":
        return target.remediation.memory_restart_allowed
    return ()


def certificate_read(target: Target) -> str:
    """The manual's certificate expiry check, against the target's own listener (SNI: its domain)."""
    port = target.remediation.certificate_port
    return f"openssl s_client -connect 127.0.0.1:{port} -servername {target.domain} | openssl x509 -noout -enddate"


def planned_commands(target: Target, action: str, service: str | None) -> list[str]:
    """The commands ``action`` runs on ``target``, in order (empty for notify-only)."""
    settings = target.remediation
    if action == "compose-up":
        return [READ_SERVICES, f"docker compose up -d {service}" if service else "docker compose up -d", READ_SERVICES]
    if action == "restart-service":
        return [READ_SERVICES, f"docker compose restart {service}", READ_SERVICES]
    if action == "disk-cleanup":
        return [f"df -P {target.app_dir}", PRUNE, f"df -P {target.app_dir}"]
    if action == "restart-top-memory":
        chosen = _CHOSEN_ON_HOST.format(", ".join(settings.memory_restart_allowed))
        return [READ_MEMORY, f"docker compose restart {chosen}", READ_MEMORY]
    if action == "certificate-check":
        read = certificate_read(target)
        return [read, f"docker compose restart {settings.caddy_service}", read]
    return []


def ran_as_planned(target: Target, action: str, planned: list[str], ran: list[str]) -> bool:
    """``ran`` is ``planned`` with the service the host chose (restart-top-memory: one of the allowed list)."""
    allowed = target.remediation.memory_restart_allowed
    chosen = _CHOSEN_ON_HOST.format(", ".join(allowed))

    def agrees(plan: str, done: str) -> bool:
        if action == "restart-top-memory" and chosen in plan:
            return done in {plan.replace(chosen, service) for service in allowed}
        return done == plan

    return len(planned) == len(ran) and all(agrees(p, d) for p, d in zip(planned, ran, strict=True))
