"""The service workflow's host side: the command of service.sh and what its output says.

service.sh prints ``ran=<command>`` lines, ``unbanned=<answer>``, ``after.<service>=<state>`` and
``status.<service>=<status>`` lines; for ``logs`` then a marker line and the log lines to the end. The log lines are
redacted twice: on the host (``redact_lines``: SSM keeps a command's output) and here with ``redact_log_line``, the
same rules, before the step stores them in S3; they are never returned in the task's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from freshtrack_ops.config import Target
from freshtrack_ops.errors import InvalidInput, ServiceActionFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.redact import redact_log_line
from freshtrack_ops.service.models import ServiceHostEvent, ServiceReport
from freshtrack_ops.service.plan import canonical_ip

#: the act task's Lambda has 900 s (tasks.py): a force rebuild (`build --no-cache`) is the long one
ACT_TIMEOUT_S = 840.0
#: service.sh's exit for a refused parameter
EXIT_REFUSED = 64
#: the line after which service.sh prints nothing but log lines (service.sh LOG_MARKER)
LOG_MARKER = "--- freshtrack-ops service logs follow ---"
_LINE = re.compile(r"^(ran|unbanned|(?:after|status)\.[a-z][a-z0-9_-]{0,62})=(.*)$")


@dataclass
class HostOutput:
    """service.sh's stdout, parsed."""

    ran: list[str] = field(default_factory=list)
    after: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    unbanned: str | None = None
    #: the log lines (logs only; None: no marker seen)
    logs: list[str] | None = None


def parse_output(stdout: str) -> HostOutput:
    """The report lines before the marker; every line after it is a log line (however it reads)."""
    output = HostOutput()
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        if line == LOG_MARKER:
            output.logs = lines[index + 1 :]
            break
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2)
        if key == "ran":
            output.ran.append(value)
        elif key == "unbanned":
            output.unbanned = value
        else:
            section, _, service = key.partition(".")
            (output.after if section == "after" else output.status)[service] = value
    return output


def check_event(target: Target, event: ServiceHostEvent) -> None:
    """The host step's own check (the validator checked the same): InvalidInput before anything runs."""
    if event.service is not None and event.service not in target.compose_services:
        known = ", ".join(target.compose_services)
        raise InvalidInput(f"service: not a service of target {target.id!r} ({known}) (got {event.service!r})")
    if event.ip is not None and canonical_ip(event.ip) != event.ip:
        raise InvalidInput(f"ip: not in canonical form {canonical_ip(event.ip)!r} (got {event.ip!r})")
    if event.action == "unban" and event.ip is None:
        raise InvalidInput("ip: unban needs the address to unban (got None)")
    if event.action == "logs" and event.log_key is None:
        raise InvalidInput("log_key: logs needs the key its lines are saved under (got None)")


def act_command(target: Target, event: ServiceHostEvent) -> HostCommand:
    check_event(target, event)
    env = {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "ACTION": event.action,
        "SERVICE": event.service or "",
        "SERVICES": " ".join(target.compose_services),
        "TAIL": str(event.tail) if event.tail else "",
        "SINCE": event.since or "",
        "IP": event.ip or "",
        "F2B_JAIL": target.daily_check.fail2ban_jail,
    }
    return HostCommand("service.sh", env, ACT_TIMEOUT_S)


def read_output(target: Target, event: ServiceHostEvent, result: CommandResult) -> HostOutput:
    """The parsed output of a command that succeeded; InvalidInput or ServiceActionFailed otherwise."""
    output = parse_output(result.stdout)
    if result.exit_code == EXIT_REFUSED:
        raise InvalidInput(f"{target.id}: service.sh refused its parameters: {tail(result.stderr)}")
    if result.exit_code != 0:
        doing = f" at `{output.ran[-1]}`" if output.ran else ""
        raise ServiceActionFailed(
            f"{target.id}: {event.action} failed{doing} (exit {result.exit_code}): {tail(result.stderr)}"
        )
    if event.action == "logs" and output.logs is None:
        raise ServiceActionFailed(f"{target.id}: service.sh printed no log marker: {tail(result.stderr)}")
    return output


def redacted_log(lines: list[str]) -> str:
    return "".join(redact_log_line(line) + "\n" for line in lines)


def report(event: ServiceHostEvent, output: HostOutput) -> ServiceReport:
    states = ", ".join(f"{name} {state}" for name, state in output.after.items()) or "no services"
    if event.action == "logs":
        lines = len(output.logs or [])
        summary = f"saved {lines} log line(s), redacted, to {event.log_key}; services: {states}"
    elif event.action == "unban":
        summary = _unban_summary(event, output.unbanned)
    else:
        summary = f"{event.action} {event.service or 'all services'}: {states}"
    return ServiceReport(
        action=event.action,
        service=event.service,
        commands=output.ran,
        after=output.after,
        status=output.status,
        log_key=event.log_key if event.action == "logs" else None,
        log_lines=len(output.logs or []) if event.action == "logs" else None,
        unbanned=output.unbanned,
        summary=summary,
    )


def _unban_summary(event: ServiceHostEvent, answer: str | None) -> str:
    """``set <jail> unbanip IP`` answers how many addresses it unbanned: since fail2ban 0.10.5/0.11.1 an address
    that was not banned is no error but ``0`` (gh-2349; the stand-in copies it). Either way it is not banned now."""
    if answer == "0":
        return f"{event.ip} was not banned: nothing to unban"
    return f"unbanned {event.ip} (fail2ban answered {answer!r})"
