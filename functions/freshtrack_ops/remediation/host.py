"""The remediation's host side: the commands of remediate.sh and remediation_check.sh, and what their output says.

The scripts print ``ran=<command>``, ``acted_on=<service>`` and ``<section>.<key>=<value>`` lines (sections
``before``/``after`` for an action, ``fact`` for a check); the host reads, the control plane judges: every
threshold (disk, memory, certificate days) is compared here, against the target's ``remediation`` settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, InvalidInput, RemediationFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.remediation.commands import check_service, watched_services
from freshtrack_ops.remediation.models import ActionReport, ConditionReport, Fact, RemediationHostEvent

#: the act task's Lambda has 600 s (tasks.py): a prune of many images is the long one
ACT_TIMEOUT_S = 540.0
#: the check task's Lambda has 120 s: `docker stats --no-stream` samples for ~2 s, s_client waits 15 s at most
CHECK_TIMEOUT_S = 100.0
#: the manual's "High memory usage (> 90%)" default alert: a service's MEM % must be below it
MEMORY_OK_BELOW_PERCENT = 90.0
#: remediate.sh's exits: a refused parameter, nothing to act on (no allowed service running)
EXIT_REFUSED, EXIT_NOTHING_TO_ACT_ON = 64, 65
_LINE = re.compile(r"^(ran|acted_on|(?:before|after|fact)\.[A-Za-z0-9_.-]+)=(.*)$")
_INT = re.compile(r"^-?[0-9]{1,18}$")
_FLOAT = re.compile(r"^-?[0-9]{1,18}\.[0-9]{1,12}$")
RUNNING = "running"


@dataclass
class HostReport:
    """One script's output, parsed."""

    ran: list[str] = field(default_factory=list)
    acted_on: str | None = None
    sections: dict[str, dict[str, Fact]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Fact]:
        return self.sections.get(name, {})


def fact_value(text: str) -> Fact:
    """A number when the value is one (MEM %, df's figures, seconds), else the text."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def parse_report(stdout: str) -> HostReport:
    """The ``ran=``, ``acted_on=`` and ``<section>.<key>=`` lines; anything else (none expected) is ignored."""
    report = HostReport()
    for line in stdout.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2)
        if key == "ran":
            report.ran.append(value)
        elif key == "acted_on":
            report.acted_on = value
        else:
            section, _, name = key.partition(".")
            report.sections.setdefault(section, {})[name] = fact_value(value)
    return report


def _env(target: Target, event: RemediationHostEvent) -> dict[str, str]:
    settings = target.remediation
    return {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "ACTION": event.action,
        "SERVICES": " ".join(watched_services(target, event.action, event.service)),
        "DOMAIN": target.domain,
        "CERT_PORT": str(settings.certificate_port),
    }


def act_command(target: Target, event: RemediationHostEvent) -> HostCommand:
    """remediate.sh for the event; InvalidInput (nothing run) for a service the action or target does not take."""
    check_service(target, event.action, event.service)
    env = _env(target, event) | {"SERVICE": event.service or "", "CADDY_SERVICE": target.remediation.caddy_service}
    return HostCommand("remediate.sh", env, ACT_TIMEOUT_S)


def check_command(target: Target, event: RemediationHostEvent) -> HostCommand:
    check_service(target, event.action, event.service)
    return HostCommand("remediation_check.sh", _env(target, event), CHECK_TIMEOUT_S)


def read_action(target: Target, event: RemediationHostEvent, result: CommandResult) -> ActionReport:
    report = parse_report(result.stdout)
    if result.exit_code == EXIT_REFUSED:
        raise InvalidInput(f"{target.id}: remediate.sh refused its parameters: {tail(result.stderr)}")
    if result.exit_code != 0:
        doing = f" at `{report.ran[-1]}`" if report.ran else ""
        raise RemediationFailed(
            f"{target.id}: {event.action} failed{doing} (exit {result.exit_code}): {tail(result.stderr)}"
        )
    before, after = report.section("before"), report.section("after")
    service = report.acted_on or event.service
    changed = event.action != "compose-up" or before != after
    if event.action == "disk-cleanup":
        changed = after.get("reclaimed") not in ("0B", "", None)
    return ActionReport(
        action=event.action,
        service=service,
        commands=report.ran,
        changed=changed,
        before=before,
        after=after,
        summary=_action_summary(target, event.action, service, before, after),
    )


def _action_summary(
    target: Target, action: str, service: str | None, before: Mapping[str, Fact], after: Mapping[str, Fact]
) -> str:
    if action in ("compose-up", "restart-service"):
        states = ", ".join(f"{name}: {before.get(name, '?')} -> {after.get(name, '?')}" for name in sorted(after))
        verb = "started" if action == "compose-up" else "restarted"
        return f"{verb} {service or 'all services'} ({states})"
    if action == "disk-cleanup":
        return (
            f"docker system prune -af reclaimed {after.get('reclaimed', '?')}: {before.get('used_percent', '?')}% "
            f"-> {after.get('used_percent', '?')}% used on {after.get('mount', '?')}"
        )
    if action == "restart-top-memory":
        return (
            f"restarted {service}, the top memory consumer of {', '.join(target.remediation.memory_restart_allowed)} "
            f"({before.get(f'mem.{service}', '?')}% -> {after.get(f'mem.{service}', '?')}%); top of all: "
            f"{before.get('top_container', '?')} ({before.get('top_mem_percent', '?')}%)"
        )
    caddy = target.remediation.caddy_service
    return f"restarted {caddy}; certificate before: {_days(before)}, after: {_days(after)}"


def _days(facts: Mapping[str, Fact]) -> str:
    seconds = facts.get("seconds_left")
    if not isinstance(seconds, int):
        return "none served"
    return f"{seconds // 86_400} day(s) left (until {facts.get('not_after', '?')})"


def read_condition(target: Target, event: RemediationHostEvent, result: CommandResult) -> ConditionReport:
    if result.exit_code == EXIT_REFUSED:
        raise InvalidInput(f"{target.id}: remediation_check.sh refused its parameters: {tail(result.stderr)}")
    if result.exit_code != 0:
        raise HostCommandFailed(
            f"{target.id}: checking {event.action} failed (exit {result.exit_code}): {tail(result.stderr)}"
        )
    facts = dict(parse_report(result.stdout).section("fact"))
    ok, summary = judge(target, event, facts)
    return ConditionReport(action=event.action, ok=ok, facts=facts, summary=summary)


def judge(target: Target, event: RemediationHostEvent, facts: dict[str, Fact]) -> tuple[bool, str]:
    """Whether the alert's condition is cleared, and why; adds the threshold it used to ``facts``."""
    if event.action in ("compose-up", "restart-service"):
        return _judge_services(target, event, facts)
    if event.action == "disk-cleanup":
        return _judge_disk(target, facts)
    if event.action == "restart-top-memory":
        return _judge_memory(target, facts)
    return _judge_certificate(target, facts)


def _judge_services(target: Target, event: RemediationHostEvent, facts: dict[str, Fact]) -> tuple[bool, str]:
    wanted = watched_services(target, event.action, event.service)
    down = [name for name in wanted if facts.get(name) != RUNNING]
    if down:
        return False, f"not running: {', '.join(down)}"
    return True, f"running: {', '.join(wanted)}"


def _judge_disk(target: Target, facts: dict[str, Fact]) -> tuple[bool, str]:
    threshold = target.remediation.disk_threshold_percent
    facts["threshold_percent"] = threshold
    used = facts.get("used_percent")
    if not isinstance(used, int):
        return False, f"df reported no use of {target.app_dir}'s filesystem"
    where = f"{facts.get('mount', '?')} is {used}% used"
    if used < threshold:
        return True, f"{where}, below {threshold}%"
    return False, f"{where}, not below {threshold}%"


def _judge_memory(target: Target, facts: dict[str, Fact]) -> tuple[bool, str]:
    facts["threshold_percent"] = MEMORY_OK_BELOW_PERCENT
    allowed = target.remediation.memory_restart_allowed
    usage = {name: facts[f"mem.{name}"] for name in allowed if isinstance(facts.get(f"mem.{name}"), int | float)}
    shown = ", ".join(f"{name} {value}%" for name, value in usage.items()) or "none of them running"
    high = [name for name, value in usage.items() if float(value) >= MEMORY_OK_BELOW_PERCENT]
    if high:
        return False, f"{', '.join(high)} at or above {MEMORY_OK_BELOW_PERCENT:g}% ({shown})"
    return True, f"below {MEMORY_OK_BELOW_PERCENT:g}%: {shown}"


def _judge_certificate(target: Target, facts: dict[str, Fact]) -> tuple[bool, str]:
    settings = target.remediation
    facts["min_days"] = settings.certificate_min_days
    where = f"127.0.0.1:{settings.certificate_port} for {target.domain}"
    seconds = facts.get("seconds_left")
    if not isinstance(seconds, int):
        return False, f"no certificate served on {where}"
    days = seconds // 86_400
    facts["days_left"] = days
    if seconds <= 0:
        return False, f"the certificate on {where} expired {facts.get('not_after', '?')}"
    verdict = "at least" if days >= settings.certificate_min_days else "fewer than"
    text = f"the certificate on {where} is valid until {facts.get('not_after', '?')}: {days} day(s) left, {verdict}"
    return days >= settings.certificate_min_days, f"{text} {settings.certificate_min_days}"
