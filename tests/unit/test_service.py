"""The service workflow without a host: what each action plans, every refusal (confirmation, service, address,
fields that do not fit the action) before anything runs, the host command's environment, how service.sh's output
is read (and its log lines redacted), and what the notification and the audit entry say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.config import LocalTarget, TargetSet
from freshtrack_ops.daily.settings import DailyCheckSettings
from freshtrack_ops.errors import ConfigError, InvalidInput, ServiceActionFailed
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.remediation.guard import AuditEntry, AuditStatus
from freshtrack_ops.service import host
from freshtrack_ops.service.commands import planned_commands
from freshtrack_ops.service.models import (
    DESTRUCTIVE_ACTIONS,
    READ_ONLY_ACTIONS,
    ServiceHostEvent,
    ServiceOutcome,
    ServicePlan,
    ValidateServiceEvent,
)
from freshtrack_ops.service.plan import plan_service
from freshtrack_ops.service.record import describe, record_outcome

NOW = datetime(2025, 5, 1, 7, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ftops-service:service-demo-20250501T070000Z"
TARGET = LocalTarget(
    id="demo",
    domain="demo.example.com",
    app_dir="/opt/freshtrack-pro",
    docker_bin="/usr/bin/docker",
    daily_check=DailyCheckSettings(fail2ban_jail="sshd-ddos"),
)
TARGETS = TargetSet(targets=(TARGET,))


class FakeAudit:
    def __init__(self) -> None:
        self.recorded: list[AuditEntry] = []
        self.completed: list[tuple[str | None, str, AuditStatus, str]] = []

    def record(self, entry: AuditEntry) -> None:
        self.recorded.append(entry)

    def complete(
        self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
        execution_arn: str | None = None,
    ) -> None:  # fmt: skip
        self.completed.append((host, audit_id, status, detail))

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return self.recorded[:limit]


def plan(audit: FakeAudit | None = None, **request: Any) -> ServicePlan:
    event = ValidateServiceEvent(request={"host": "demo", **request}, execution_id=EXECUTION)
    return plan_service(event, TARGETS, audit=audit or FakeAudit(), now=NOW)


def refused(**request: Any) -> str:
    audit = FakeAudit()
    with pytest.raises(InvalidInput) as caught:
        plan(audit, **request)
    assert [entry.status for entry in audit.recorded] in ([], ["refused"])
    return str(caught.value)


# -- what an action plans -----------------------------------------------------------------------------------
def test_every_action_plans_the_manuals_commands() -> None:
    assert planned_commands("start", None) == ["docker compose up -d"]
    assert planned_commands("start", "backend") == ["docker compose up -d backend"]
    assert planned_commands("stop", None) == ["docker compose down"]  # "Stop all services (preserves data)"
    assert planned_commands("stop", "backend") == ["docker compose stop backend"]
    assert planned_commands("restart", "worker") == ["docker compose restart worker"]
    assert planned_commands("status", None) == ["docker compose ps"]
    assert planned_commands("logs", "backend", tail=100) == ["docker compose logs --tail=100 backend"]
    assert planned_commands("logs", None, since="2h") == ["docker compose logs --since 2h"]
    assert planned_commands("emergency-stop", None) == ["docker compose down --timeout 5"]
    assert planned_commands("emergency-restart", None) == ["docker compose down --timeout 10", "docker compose up -d"]
    assert planned_commands("force-rebuild", None) == [
        "docker compose down", "docker compose build --no-cache", "docker compose up -d"
    ]  # fmt: skip
    assert planned_commands("unban", None, ip="203.0.113.7", jail="sshd") == [
        "fail2ban-client set sshd unbanip 203.0.113.7"
    ]


def test_a_plan_carries_what_the_host_and_the_notification_need() -> None:
    audit = FakeAudit()
    restart = plan(audit, action="restart", service="backend", confirm="demo", reason="502 since 06:55")
    assert (restart.destructive, restart.commands, restart.log_key) == (
        True,
        ["docker compose restart backend"],
        None,
    )
    assert restart.headline == "restart backend on demo, started by hand (502 since 06:55)"
    assert (restart.lock_owner, restart.lock_tries, restart.lock_poll_s) == (EXECUTION, 6, 5)
    (entry,) = audit.recorded
    assert (entry.status, entry.source, entry.action, entry.audit_id) == (
        "started",
        "service",
        "restart",
        restart.audit_id,
    )
    # the audit id is the execution's: a retried validation completes the same entry
    assert plan(action="status").audit_id == restart.audit_id


def test_logs_default_to_the_last_200_lines_and_days_become_hours_for_docker() -> None:
    logs = plan(action="logs", service="backend")
    assert (logs.tail, logs.since, logs.commands) == (200, None, ["docker compose logs --tail=200 backend"])
    assert logs.log_key == "reports/demo/logs/service-demo-20250501T070000Z.log"
    assert logs.destructive is False
    since = plan(action="logs", since="1d")  # Go's ParseDuration (docker's --since) has no "d"
    assert (since.tail, since.since, since.commands) == (None, "24h", ["docker compose logs --since 24h"])
    both = plan(action="logs", tail=50, since="2025-05-01T06:00:00Z")
    assert both.commands == ["docker compose logs --since 2025-05-01T06:00:00Z --tail=50"]


def test_unban_works_in_the_targets_jail_on_the_canonical_address() -> None:
    unban = plan(action="unban", ip="2001:DB8:0:0::7")
    assert (unban.ip, unban.jail) == ("2001:db8::7", "sshd-ddos")
    assert unban.commands == ["fail2ban-client set sshd-ddos unbanip 2001:db8::7"]
    assert unban.headline == "unban 2001:db8::7 in fail2ban jail sshd-ddos on demo, started by hand"


# -- refusals, before anything runs -------------------------------------------------------------------------
@pytest.mark.parametrize("action", sorted(DESTRUCTIVE_ACTIONS))
def test_a_destructive_action_needs_the_target_id_typed(action: str) -> None:
    assert refused(action=action) == (f"confirm: {action} takes services down: type the target id 'demo' (got missing)")
    assert refused(action=action, confirm="prod").endswith("(got 'prod')")
    assert refused(action=action, confirm="DEMO").endswith("(got 'DEMO')")
    assert plan(action=action, confirm="demo").destructive is True


@pytest.mark.parametrize("action", sorted(READ_ONLY_ACTIONS | {"start"}))
def test_other_actions_need_no_confirmation_but_a_wrong_one_is_refused(action: str) -> None:
    assert plan(action=action).destructive is False
    assert refused(action=action, confirm="prod") == "confirm: not the target id 'demo' (got 'prod')"


def test_a_refusal_is_audited_with_what_was_refused() -> None:
    audit = FakeAudit()
    with pytest.raises(InvalidInput):
        plan(audit, action="emergency-stop")
    (entry,) = audit.recorded
    assert (entry.status, entry.action, entry.host) == ("refused", "emergency-stop", "demo")
    assert entry.detail.startswith("refused: confirm: emergency-stop takes services down")
    # a field its pattern refuses too, under the request's host (an action that is none is not recorded as one)
    with pytest.raises(InvalidInput):
        plan(audit, action="rm -rf /")
    assert (audit.recorded[-1].status, audit.recorded[-1].action) == ("refused", None)
    assert audit.recorded[-1].detail.startswith("refused: action: Input should be")


def test_an_unknown_target_is_refused_naming_the_host() -> None:
    audit = FakeAudit()
    with pytest.raises(ConfigError, match="host: unknown target 'prod'"):
        plan_service(
            ValidateServiceEvent(request={"host": "prod", "action": "status"}, execution_id=EXECUTION),
            TARGETS, audit=audit, now=NOW,
        )  # fmt: skip
    assert audit.recorded == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"action": "restart", "service": "nginx", "confirm": "demo"}, "service: not a service of target 'demo'"),
        ({"action": "start", "service": "Backend"}, "service: String should match pattern"),
        ({"action": "start", "service": "backend;reboot"}, "service: String should match pattern"),
        ({"action": "emergency-stop", "service": "backend", "confirm": "demo"}, "service: emergency-stop acts on"),
        ({"action": "unban", "ip": "203.0.113.7", "service": "backend"}, "service: unban acts on fail2ban"),
        ({"action": "unban"}, "ip: unban needs the address to unban (got None)"),
        ({"action": "status", "ip": "203.0.113.7"}, "ip: only unban takes an address (got '203.0.113.7')"),
        ({"action": "status", "tail": 10}, "tail: only logs takes tail (got 10)"),
        ({"action": "start", "since": "2h"}, "since: only logs takes since (got '2h')"),
        ({"action": "logs", "tail": 0}, "tail: Input should be greater than or equal to 1"),
        ({"action": "logs", "tail": 10_001}, "tail: Input should be less than or equal to 10000"),
        ({"action": "logs", "since": "2 hours"}, "since: String should match pattern"),
        ({"action": "logs", "since": "0h"}, "since: String should match pattern"),
        ({"action": "shutdown"}, "action: Input should be"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(request_: dict[str, Any], message: str) -> None:
    assert message in refused(**request_)


@pytest.mark.parametrize(
    "ip",
    ["256.1.1.1", "1.2.3", "010.0.0.1", "1.2.3.4/32", "::ffff:1.2.3.4", "fe80::1%eth0", "2001:db8::g", ":::", ""],
)
def test_what_is_not_one_ipv4_or_ipv6_address_is_refused(ip: str) -> None:
    message = refused(action="unban", ip=ip)
    assert message.startswith("ip: ") and repr(ip) in message


@pytest.mark.parametrize(
    ("ip", "canonical"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("192.168.1.100", "192.168.1.100"),  # the manual's own example: private addresses are banned too
        ("127.0.0.1", "127.0.0.1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::1", "::1"),
    ],
)
def test_every_single_address_is_accepted_in_canonical_form(ip: str, canonical: str) -> None:
    assert plan(action="unban", ip=ip).ip == canonical


def test_every_problem_is_named_at_once() -> None:
    message = refused(action="stop", service="nginx", tail=5)
    assert message.split("; ")[0].startswith("service: not a service")
    assert message.split("; ")[1] == "tail: only logs takes tail (got 5)"
    assert message.split("; ")[2].startswith("confirm: stop takes services down")


# -- the host command ---------------------------------------------------------------------------------------
def host_event(**fields: Any) -> ServiceHostEvent:
    return ServiceHostEvent.model_validate({"host": "demo", **fields})


def test_the_host_command_passes_every_value_in_the_environment_within_its_patterns() -> None:
    command = host.act_command(TARGET, host_event(action="unban", ip="2001:db8::7"))
    assert command.script == "service.sh"
    assert dict(command.env) == {
        "APP_DIR": "/opt/freshtrack-pro", "DOCKER_BIN": "/usr/bin/docker", "ACTION": "unban", "SERVICE": "",
        "SERVICES": "backend worker postgres redis caddy", "TAIL": "", "SINCE": "", "IP": "2001:db8::7",
        "F2B_JAIL": "sshd-ddos",
    }  # fmt: skip
    host_scripts.script_env("service.sh", command.env)  # what SSM's allowedPattern would check
    logs = host.act_command(
        TARGET,
        host_event(action="logs", service="caddy", tail=10_000, since="2399976h", log_key="reports/demo/logs/x.log"),
    )
    host_scripts.script_env("service.sh", logs.env)
    assert (logs.env["TAIL"], logs.env["SINCE"], logs.env["SERVICE"]) == ("10000", "2399976h", "caddy")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "restart", "service": "nginx"}, "service: not a service of target 'demo'"),
        ({"action": "unban"}, "ip: unban needs the address"),
        ({"action": "unban", "ip": "2001:DB8::7"}, "ip: not in canonical form '2001:db8::7'"),
        ({"action": "logs"}, "log_key: logs needs the key"),
    ],
)
def test_the_host_step_refuses_what_the_validator_would_have(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        host.act_command(TARGET, host_event(**fields))


LOGS_STDOUT = "\n".join(
    [
        "ran=docker compose logs --tail=3 backend",
        "after.backend=running",
        "status.backend=Up 2 hours (healthy)",
        host.LOG_MARKER,
        "backend-1  | connecting to postgres://frostguard:hunter2@postgres:5432/frostguard token=hunter3",
        "backend-1  | after.backend=exited",
        "backend-1  | GET /api/health 200",
    ]
)


def test_the_log_lines_are_everything_after_the_marker_and_leave_redacted() -> None:
    event = host_event(action="logs", service="backend", tail=3, log_key="reports/demo/logs/x.log")
    output = host.read_output(TARGET, event, CommandResult(0, LOGS_STDOUT, ""))
    assert output.after == {"backend": "running"}  # the log line that reads like a report line is a log line
    assert output.logs is not None and len(output.logs) == 3
    saved = host.redacted_log(output.logs)
    # redact_log_line: URL user information and secret-named keys (the host's sed did the same already)
    assert "hunter" not in saved and "postgres://<redacted>@postgres:5432/frostguard token=<redacted>" in saved
    report = host.report(event, output)
    assert (report.log_key, report.log_lines, report.commands) == (
        "reports/demo/logs/x.log",
        3,
        ["docker compose logs --tail=3 backend"],
    )
    assert "hunter2" not in report.model_dump_json()


def test_a_failed_command_names_the_command_it_failed_at() -> None:
    event = host_event(action="force-rebuild")
    stdout = "ran=docker compose down\nran=docker compose build --no-cache\n"
    with pytest.raises(ServiceActionFailed, match=r"at `docker compose build --no-cache` \(exit 17\): no space left"):
        host.read_output(TARGET, event, CommandResult(17, stdout, "no space left on device\n"))
    with pytest.raises(InvalidInput, match=r"service\.sh refused its parameters: refusing IP"):
        host.read_output(TARGET, event, CommandResult(64, "", "refusing IP 'x'\n"))
    logs = host_event(action="logs", log_key="reports/demo/logs/x.log", tail=5)
    with pytest.raises(ServiceActionFailed, match="no log marker"):
        host.read_output(TARGET, logs, CommandResult(0, "ran=docker compose logs --tail=5\n", ""))


# -- the record ---------------------------------------------------------------------------------------------
def lambda_error(name: str, message: str) -> dict[str, object]:
    return {"Error": name, "Cause": json.dumps({"errorType": name, "errorMessage": message, "stackTrace": []})}


def test_a_success_says_what_ran_and_each_services_state_after_and_closes_the_audit_entry() -> None:
    audit = FakeAudit()
    restart = plan(action="emergency-restart", confirm="demo")
    act = {
        "commands": ["docker compose down --timeout 10", "docker compose up -d"],
        "after": {"backend": "running", "worker": "exited"},
        "status": {"backend": "Up 1 second (healthy)", "worker": "Exited (1) 1 second ago"},
        "summary": "emergency-restart all services: backend running, worker exited",
    }
    outcome = ServiceOutcome(plan=restart, outcome="succeeded", act=act)
    record = record_outcome(outcome, audit=audit, now=NOW, execution_id=EXECUTION)
    assert record.subject == "FreshTrack service emergency-restart on demo: done"
    assert record.message.splitlines() == [
        "emergency-restart all services on demo, started by hand",
        "",
        "Ran:",
        "  docker compose down --timeout 10",
        "  docker compose up -d",
        "Services after:",
        "  backend: running (Up 1 second (healthy))",
        "  worker: exited (Exited (1) 1 second ago)",
    ]
    assert (record.error_name, record.error_cause) == ("", "")
    assert audit.completed == [("demo", restart.audit_id, "succeeded", act["summary"])]


def test_a_held_lock_fails_with_lockheld_saying_who_holds_it_and_that_nothing_ran() -> None:
    audit = FakeAudit()
    holder = "host 'demo' is locked by arn:...:execution:ftops-backup:nightly (backup, lease until epoch 1)"
    outcome = ServiceOutcome(
        plan=plan(action="restart", confirm="demo"), outcome="gave-way", error=lambda_error("LockHeld", holder)
    )
    record = record_outcome(outcome, audit=audit, now=NOW, execution_id=EXECUTION)
    assert record.subject == "FreshTrack service restart on demo not run: host locked"
    assert record.error_name == "LockHeld"
    assert record.error_cause == f"{holder}; waited 30 s for the host lock: nothing was run"
    assert "Planned:\n  docker compose restart" in record.message and "nothing was run" in record.message
    assert audit.completed[0][2] == "gave-way"


def test_a_failure_says_what_was_planned_the_error_and_is_redacted() -> None:
    url = "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123"
    outcome = ServiceOutcome(
        plan=plan(action="force-rebuild", confirm="demo"),
        outcome="failed",
        error=lambda_error("ServiceActionFailed", f"demo: force-rebuild failed at `docker compose build`: {url}"),
    )
    record = describe(outcome)
    assert record.subject == "FreshTrack service force-rebuild on demo FAILED"
    assert record.error_name == "ServiceActionFailed" and "abc123" not in record.error_cause + record.message
    assert "Error: ServiceActionFailed: demo: force-rebuild failed" in record.message
