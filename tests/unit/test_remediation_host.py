"""The remediation's host side without a host: the commands an action plans (the dry run), the environment its
scripts get, how their output is read and judged against the target's thresholds, and which error a failure is."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from freshtrack_ops import host_scripts
from freshtrack_ops.config import LocalTarget
from freshtrack_ops.errors import HostCommandFailed, InvalidInput, RemediationFailed
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.remediation import host
from freshtrack_ops.remediation.commands import planned_commands, ran_as_planned
from freshtrack_ops.remediation.models import RemediationHostEvent
from freshtrack_ops.remediation.settings import HOST_ACTIONS, RemediationSettings
from freshtrack_ops.steps.registry import REMEDIATION_ACT, REMEDIATION_CHECK, STEPS

TARGET = LocalTarget(
    id="demo",
    domain="demo.example.com",
    app_dir="/opt/freshtrack-pro",
    docker_bin="/usr/bin/docker",
    remediation=RemediationSettings(certificate_port=8443, certificate_min_days=14, disk_threshold_percent=80),
)


def event(action: str, service: str | None = None) -> RemediationHostEvent:
    return RemediationHostEvent.model_validate({"host": "demo", "action": action, "service": service})


def ok(stdout: str) -> CommandResult:
    return CommandResult(exit_code=0, stdout=stdout, stderr="")


# -- what an action plans -----------------------------------------------------------------------------------
def test_the_planned_commands_of_every_action() -> None:
    cert = "openssl s_client -connect 127.0.0.1:8443 -servername demo.example.com | openssl x509 -noout -enddate"
    assert planned_commands(TARGET, "compose-up", "backend") == [
        "docker compose ps", "docker compose up -d backend", "docker compose ps"
    ]  # fmt: skip
    assert planned_commands(TARGET, "compose-up", None)[1] == "docker compose up -d"
    assert planned_commands(TARGET, "restart-service", "backend")[1] == "docker compose restart backend"
    assert planned_commands(TARGET, "disk-cleanup", None) == [
        "df -P /opt/freshtrack-pro", "docker system prune -af", "df -P /opt/freshtrack-pro"
    ]  # fmt: skip
    assert planned_commands(TARGET, "restart-top-memory", None) == [
        "docker stats --no-stream",
        "docker compose restart <the top memory consumer of backend, worker>",
        "docker stats --no-stream",
    ]
    assert planned_commands(TARGET, "certificate-check", None) == [cert, "docker compose restart caddy", cert]
    assert planned_commands(TARGET, "notify-only", None) == []


@pytest.mark.parametrize("action", sorted(HOST_ACTIONS))
def test_no_plan_ever_prunes_volumes(action: str) -> None:
    assert not any("--volumes" in command for command in planned_commands(TARGET, action, None))


def test_the_script_never_passes_volumes_to_docker() -> None:
    """Outside their comments the scripts never say --volumes (docker system prune has no short form of it), and the
    one docker call that prunes is exactly ``system prune -af``."""
    for script in ("remediate.sh", "remediation_check.sh"):
        code = [line for line in host_scripts.load(script).splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if "--volumes" in line], script
        assert [line for line in code if '"$DOCKER_BIN" system' in line] == (
            ['    pruned="$("$DOCKER_BIN" system prune -af)"'] if script == "remediate.sh" else []
        )


def test_what_ran_agrees_with_the_plan_with_the_service_the_host_chose() -> None:
    planned = planned_commands(TARGET, "restart-top-memory", None)
    ran = ["docker stats --no-stream", "docker compose restart worker", "docker stats --no-stream"]
    assert ran_as_planned(TARGET, "restart-top-memory", planned, ran)
    assert not ran_as_planned(
        TARGET, "restart-top-memory", planned, [ran[0], "docker compose restart postgres", ran[2]]
    )
    assert not ran_as_planned(TARGET, "restart-top-memory", planned, ran[:2])
    disk = planned_commands(TARGET, "disk-cleanup", None)
    assert ran_as_planned(TARGET, "disk-cleanup", disk, list(disk))
    assert not ran_as_planned(TARGET, "disk-cleanup", disk, [disk[0], "docker system prune -af --volumes", disk[2]])


# -- the event and the environment --------------------------------------------------------------------------
def test_notify_only_and_unknown_actions_are_no_host_event() -> None:
    for action in ("notify-only", "rm -rf /"):
        with pytest.raises(ValidationError, match="action"):
            event(action)


@pytest.mark.parametrize(
    ("action", "service", "message"),
    [
        ("restart-service", "nginx", r"service: not a service of target 'demo' \(backend, .*\) \(got 'nginx'\)"),
        ("restart-service", None, "service: restart-service needs the service"),
        ("disk-cleanup", "backend", "service: only compose-up and restart-service take a service"),
    ],
)
def test_a_service_the_action_or_target_does_not_take_is_refused_before_any_command(
    action: str, service: str | None, message: str
) -> None:
    for step in (REMEDIATION_ACT, REMEDIATION_CHECK):
        with pytest.raises(InvalidInput, match=message):
            step.prepare(event(action, service), TARGET)


@pytest.mark.parametrize("action", sorted(HOST_ACTIONS))
def test_every_command_passes_the_parameter_table(action: str) -> None:
    service = "backend" if action in ("compose-up", "restart-service") else None
    for command in (
        host.act_command(TARGET, event(action, service)),
        host.check_command(TARGET, event(action, service)),
    ):
        assert host_scripts.script_env(command.script, command.env) == dict(command.env)
        assert command.env["ACTION"] == action and command.env["DOCKER_BIN"] == "/usr/bin/docker"


def test_the_services_each_action_watches() -> None:
    assert host.act_command(TARGET, event("compose-up")).env["SERVICES"] == "backend worker postgres redis caddy"
    assert host.act_command(TARGET, event("compose-up")).env["SERVICE"] == ""
    assert host.act_command(TARGET, event("compose-up", "worker")).env["SERVICES"] == "worker"
    assert host.check_command(TARGET, event("restart-top-memory")).env["SERVICES"] == "backend worker"
    cert = host.act_command(TARGET, event("certificate-check")).env
    assert (cert["CERT_PORT"], cert["DOMAIN"], cert["CADDY_SERVICE"]) == ("8443", "demo.example.com", "caddy")


def test_the_steps_are_registered_under_their_names() -> None:
    assert STEPS["remediation-act"] is REMEDIATION_ACT and STEPS["remediation-check"] is REMEDIATION_CHECK
    from freshtrack_ops.handlers import remediation_host

    assert remediation_host.act.host_step is REMEDIATION_ACT  # type: ignore[attr-defined]
    assert remediation_host.check.host_step is REMEDIATION_CHECK  # type: ignore[attr-defined]


# -- reading the output -------------------------------------------------------------------------------------
def test_the_report_lines_are_parsed_and_numbers_typed() -> None:
    report = host.parse_report(
        "ran=docker stats --no-stream\nbefore.mem.backend=96.50\nbefore.top_container=freshtrack-pro-backend-1\n"
        "noise without a key\nacted_on=backend\nafter.used_percent=42\nafter.mount=/var lib\nran=x=y\n"
    )
    assert report.ran == ["docker stats --no-stream", "x=y"]
    assert report.acted_on == "backend"
    assert report.section("before") == {"mem.backend": 96.5, "top_container": "freshtrack-pro-backend-1"}
    assert report.section("after") == {"used_percent": 42, "mount": "/var lib"}
    assert report.section("fact") == {}


def test_an_action_report() -> None:
    stdout = (
        "ran=docker compose ps\nbefore.backend=not running\nran=docker compose up -d backend\n"
        "ran=docker compose ps\nafter.backend=running\n"
    )
    report = host.read_action(TARGET, event("compose-up", "backend"), ok(stdout))
    assert report.commands == planned_commands(TARGET, "compose-up", "backend")
    assert report.changed and report.service == "backend"
    assert (report.before, report.after) == ({"backend": "not running"}, {"backend": "running"})
    assert report.summary == "started backend (backend: not running -> running)"
    unchanged = host.read_action(TARGET, event("compose-up", "backend"), ok(stdout.replace("not running", "running")))
    assert not unchanged.changed


def test_a_memory_action_names_the_service_the_host_chose() -> None:
    stdout = (
        "ran=docker stats --no-stream\nbefore.mem.backend=31.00\nbefore.mem.worker=96.00\n"
        "before.top_container=freshtrack-pro-worker-1\nbefore.top_mem_percent=96.00\nacted_on=worker\n"
        "ran=docker compose restart worker\nran=docker stats --no-stream\nafter.mem.worker=22.00\n"
    )
    report = host.read_action(TARGET, event("restart-top-memory"), ok(stdout))
    assert report.service == "worker" and report.changed
    assert "restarted worker" in report.summary and "96.0% -> 22.0%" in report.summary


def test_disk_cleanup_changed_only_when_something_was_reclaimed() -> None:
    stdout = "ran=docker system prune -af\nafter.reclaimed={}\nafter.used_percent=40\nbefore.used_percent=45\n"
    assert host.read_action(TARGET, event("disk-cleanup"), ok(stdout.format("1.46GB"))).changed
    assert not host.read_action(TARGET, event("disk-cleanup"), ok(stdout.format("0B"))).changed


@pytest.mark.parametrize(
    ("exit_code", "error", "message"),
    [
        (64, InvalidInput, "demo: remediate.sh refused its parameters: refusing service name"),
        (65, RemediationFailed, r"demo: restart-top-memory failed at `docker stats --no-stream` \(exit 65\)"),
        (1, RemediationFailed, r"demo: restart-top-memory failed at `docker stats --no-stream` \(exit 1\)"),
    ],
)
def test_a_failed_action_is_named(exit_code: int, error: type[Exception], message: str) -> None:
    result = CommandResult(exit_code, "ran=docker stats --no-stream\n", "refusing service name 'x'\n")
    with pytest.raises(error, match=message):
        host.read_action(TARGET, event("restart-top-memory"), result)


def test_a_failed_check_is_a_host_command_failure() -> None:
    with pytest.raises(HostCommandFailed, match="demo: checking disk-cleanup failed"):
        host.read_condition(TARGET, event("disk-cleanup"), CommandResult(1, "", "df: no such file"))


# -- judging the condition ----------------------------------------------------------------------------------
def check(action: str, stdout: str, service: str | None = None) -> tuple[bool, str, dict[str, object]]:
    report = host.read_condition(TARGET, event(action, service), ok(stdout))
    return report.ok, report.summary, dict(report.facts)


def test_services_are_ok_when_every_watched_one_runs() -> None:
    assert check("compose-up", "fact.backend=running\n", "backend")[:2] == (True, "running: backend")
    assert check("restart-service", "fact.backend=not running\n", "backend")[:2] == (False, "not running: backend")
    every = "".join(f"fact.{s}=running\n" for s in TARGET.compose_services)
    assert check("compose-up", every)[0]
    assert check("compose-up", every.replace("redis=running", "redis=not running"))[1] == "not running: redis"
    assert not check("compose-up", "")[0], "no answer about a service is not 'running'"


def test_disk_is_ok_below_the_targets_threshold() -> None:
    assert check("disk-cleanup", "fact.used_percent=79\nfact.mount=/\n")[:2] == (True, "/ is 79% used, below 80%")
    ok_, summary, facts = check("disk-cleanup", "fact.used_percent=80\nfact.mount=/\n")
    assert (ok_, summary, facts["threshold_percent"]) == (False, "/ is 80% used, not below 80%", 80)
    assert not check("disk-cleanup", "")[0]


def test_memory_is_ok_when_every_allowed_service_is_below_90_percent() -> None:
    assert check("restart-top-memory", "fact.mem.backend=89.99\nfact.mem.worker=22.00\n")[0]
    ok_, summary, _ = check(
        "restart-top-memory", "fact.mem.backend=31.00\nfact.mem.worker=90.00\nfact.mem.postgres=99\n"
    )
    assert not ok_ and summary.startswith("worker at or above 90%")
    assert check("restart-top-memory", "fact.top_container=x\n")[:2] == (True, "below 90%: none of them running")


def test_the_certificate_is_ok_with_at_least_the_minimum_days_left() -> None:
    day = 86_400
    ok_, summary, facts = check(
        "certificate-check", f"fact.seconds_left={14 * day + 5}\nfact.not_after=2027-01-01T00:00:00Z\n"
    )
    assert ok_ and facts["days_left"] == 14 and facts["min_days"] == 14
    assert "valid until 2027-01-01T00:00:00Z: 14 day(s) left, at least 14" in summary
    ok_, summary, _ = check("certificate-check", f"fact.seconds_left={14 * day - 5}\n")
    assert not ok_ and "13 day(s) left, fewer than 14" in summary
    ok_, summary, _ = check("certificate-check", "fact.seconds_left=-5\nfact.not_after=2026-01-01T00:00:00Z\n")
    assert not ok_ and "expired 2026-01-01T00:00:00Z" in summary
    ok_, summary, _ = check("certificate-check", "fact.certificate=none served\n")
    assert not ok_ and summary == "no certificate served on 127.0.0.1:8443 for demo.example.com"


def test_a_zero_day_minimum_accepts_any_certificate_valid_now() -> None:
    target = TARGET.model_copy(update={"remediation": RemediationSettings(certificate_min_days=0)})
    report = host.read_condition(target, event("certificate-check"), ok("fact.seconds_left=60\n"))
    assert report.ok and re.search(r"0 day\(s\) left, at least 0$", report.summary)
