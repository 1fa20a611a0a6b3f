"""The daily check's host command (daily_check.sh) and what its output becomes (the facts the report judges)."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.daily.facts import Facts, parse_facts
from freshtrack_ops.daily.models import DailyFacts, DailyHostEvent
from freshtrack_ops.errors import HostCommandFailed, InvalidInput
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.ports import CommandResult

#: the collect task's Lambda has 300 s (tasks.py): `docker stats --no-stream` samples for ~2 s, s_client waits
#: 15 s at most, `apt-get -s upgrade` a few seconds, the log queries read a day of logs once per service
COLLECT_TIMEOUT_S = 240.0
EXIT_REFUSED = 64


def collect_command(target: Target, event: DailyHostEvent) -> HostCommand:
    settings = target.daily_check
    env = {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "SERVICES": " ".join(target.compose_services),
        "DOMAIN": target.domain,
        "CERT_PORT": str(target.remediation.certificate_port),
        "LOG_SINCE": f"{settings.log_window_hours}h",
        "LOG_SAMPLES": str(settings.log_samples),
        "SLOW_MS": str(settings.slow_request_ms),
        "F2B_JAIL": settings.fail2ban_jail,
        "LOG_BACKEND": target.app_services[0],
        "LOG_CADDY": target.remediation.caddy_service,
    }
    return HostCommand("daily_check.sh", env, COLLECT_TIMEOUT_S)


def read_facts(target: Target, result: CommandResult) -> DailyFacts:
    if result.exit_code == EXIT_REFUSED:
        raise InvalidInput(f"{target.id}: daily_check.sh refused its parameters: {tail(result.stderr)}")
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: daily_check.sh failed (exit {result.exit_code}): {tail(result.stderr)}")
    facts: Facts = parse_facts(result.stdout)
    return DailyFacts(facts=facts)
