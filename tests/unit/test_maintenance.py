"""The maintenance workflows' planning, host output and wording: every refusal names its field and opens no run,
a plan lists the commands a dry run shows, the host scripts' output is read into names and sizes only, and each
outcome's notification says what changed or where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from freshtrack_ops.config import TargetSet, parse_target
from freshtrack_ops.errors import InvalidInput, MaintenanceFailed, MaintenanceRefused, RotationPending
from freshtrack_ops.maintenance.host_models import PoolEvent, RotationEvent
from freshtrack_ops.maintenance.models import MaintenanceOutcomeEvent, MaintenancePlan, ValidateMaintenanceEvent
from freshtrack_ops.maintenance.plan import maintenance_id, plan_maintenance
from freshtrack_ops.maintenance.pool import pool_command, read_pool
from freshtrack_ops.maintenance.record import describe
from freshtrack_ops.maintenance.rotation import read_rotation, rotation_command
from freshtrack_ops.ports import CommandResult, InstanceInfo
from tests.unit.fakes import FakeAudit

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:ftops-maintenance:run-1"
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def _targets(**maintenance: Any) -> TargetSet:
    local = parse_target({"id": "demo", "transport": "local", "domain": "demo.example.com", "maintenance": maintenance})
    ssm = parse_target(
        {"id": "cloud", "transport": "ssm", "instance_id": "i-0123456789abcdef0", "domain": "cloud.example.com",
         "maintenance": {"allowed_instance_types": ["t3.medium", "t3.large", "t3.xlarge"]}}
    )  # fmt: skip
    return TargetSet(targets=[local, ssm])


class Instances:
    """EC2 as the validator sees it: the SSM target's instance runs as a t3.medium."""

    def describe(self, instance_id: str) -> InstanceInfo:
        return InstanceInfo(instance_id, "running", "t3.medium", "eu-west-1a")

    def stop(self, instance_id: str) -> None:
        raise AssertionError("the validator changes nothing")

    start = stop

    def set_instance_type(self, instance_id: str, instance_type: str) -> None:
        raise AssertionError("the validator changes nothing")


def _plan(
    workflow: str, request: dict[str, Any], targets: TargetSet | None = None
) -> tuple[MaintenancePlan, FakeAudit]:
    audit = FakeAudit()
    event = ValidateMaintenanceEvent(
        workflow=workflow, request=request, execution_id=EXECUTION, started_at="2026-12-01T04:00:00Z"
    )
    return plan_maintenance(event, targets or _targets(), audit=audit, now=NOW, instances=Instances()), audit


def _refusal(workflow: str, request: dict[str, Any], targets: TargetSet | None = None) -> tuple[str, FakeAudit]:
    audit = FakeAudit()
    event = ValidateMaintenanceEvent(
        workflow=workflow, request=request, execution_id=EXECUTION, started_at="2026-12-01T04:00:00Z"
    )
    with pytest.raises(InvalidInput) as caught:
        plan_maintenance(event, targets or _targets(), audit=audit, now=NOW, instances=Instances())
    return str(caught.value), audit


REFUSALS = [
    ("db-pool", {"host": "demo", "size": 1}, "size: DB_POOL_SIZE must be within 2..100 (maintenance.db_pool_min/max)"),
    ("db-pool", {"host": "demo", "size": 101}, "(got 101)"),
    ("db-pool", {"host": "demo"}, "size"),
    ("rotate-secrets", {"host": "demo"}, "confirm: rotating the secrets restarts every service: type the target id"),
    ("rotate-secrets", {"host": "demo", "confirm": "prod"}, "(got 'prod')"),
    ("scale", {"host": "demo", "instance_type": "t3.large", "confirm": "demo"}, "host: demo is not an EC2 instance"),
    (
        "scale",
        {"host": "cloud", "instance_type": "m5.large", "confirm": "cloud"},
        "(allowed: t3.medium, t3.large, t3.xlarge)",
    ),
    ("scale", {"host": "cloud", "instance_type": "t3.medium", "confirm": "cloud"}, "already has this type"),
    ("scale", {"host": "cloud", "instance_type": "t3.large"}, "confirm: a scale stops instance and service"),
    ("scale", {"host": "cloud", "instance_type": "t3.large; reboot", "confirm": "cloud"}, "instance_type"),
    ("os-update", {"host": "demo", "reboot": "always"}, "reboot"),
    ("os-update", {"host": "demo", "shell": "rm -rf /"}, "shell"),
]


@pytest.mark.parametrize(("workflow", "request_", "message"), REFUSALS)
def test_a_refusal_names_its_field_and_a_known_host_is_audited(
    workflow: str, request_: dict[str, Any], message: str
) -> None:
    text, audit = _refusal(workflow, request_)
    assert message in text
    (entry,) = audit.recorded
    assert (entry.status, entry.host, entry.source) == ("refused", request_["host"], "maintenance")
    assert entry.action == workflow


def test_an_unknown_host_is_refused_and_nothing_is_audited() -> None:
    audit = FakeAudit()
    event = ValidateMaintenanceEvent(workflow="db-pool", request={"host": "ghost", "size": 20}, execution_id=EXECUTION,
                                     started_at="2026-12-01T04:00:00Z")  # fmt: skip
    with pytest.raises(Exception, match="ghost"):
        plan_maintenance(event, _targets(), audit=audit, now=NOW)
    assert audit.recorded == []


def test_a_plan_opens_its_audit_entry_and_lists_its_commands() -> None:
    plan, audit = _plan("db-pool", {"host": "demo", "size": 20, "reason": "more users"})
    assert plan.maintenance_id == maintenance_id("db-pool", EXECUTION) == plan.audit_id
    assert plan.pool_size == 20 and plan.pool_services == ["backend"]
    assert plan.backup.trigger == "pre-maintenance" and plan.backup.host == "demo"
    assert plan.headline == "DB_POOL_SIZE=20 on demo, started by hand (more users)"
    assert plan.commands[0].startswith("pg_dump -Fc frostguard | S3 backups/demo/")
    assert "set DB_POOL_SIZE=20 in /opt/freshtrack-pro/.env.production (atomically; the old value kept)" in (
        plan.commands
    )
    (entry,) = audit.recorded
    assert (entry.status, entry.detail) == ("started", plan.headline)


def test_os_update_plans_the_reboot_per_transport_and_the_time_limits() -> None:
    targets = _targets(dpkg_lock_wait_s=120, apt_timeout_s=900, reboot_wait_s=300)
    plan, _ = _plan("os-update", {"host": "demo", "dry_run": True, "trigger": "schedule"}, targets)
    assert plan.dry_run and plan.reboot == "if-required" and plan.run_id is not None and len(plan.run_id) == 32
    assert plan.probe_tries == 30 and plan.headline == "OS update of demo, dry run, started by its schedule"
    assert "apt-get -o DPkg::Lock::Timeout=120 update" in plan.commands
    assert any("(stopped after 900 s)" in c for c in plan.commands)
    assert any("reboot through systemctl reboot" in c for c in plan.commands)
    never, _ = _plan("os-update", {"host": "demo", "reboot": "never"}, targets)
    assert not any("reboot through" in c for c in never.commands)


def test_scale_resolves_the_ssm_targets_instance() -> None:
    plan, _ = _plan("scale", {"host": "cloud", "instance_type": "t3.xlarge", "confirm": "cloud"})
    assert (plan.instance_id, plan.instance_type) == ("i-0123456789abcdef0", "t3.xlarge")
    assert plan.previous_instance_type == "t3.medium"
    assert "ec2:ModifyInstanceAttribute i-0123456789abcdef0 InstanceType=t3.xlarge" in plan.commands


def test_the_pool_range_must_be_a_range() -> None:
    with pytest.raises(ValueError, match="db_pool_min: above db_pool_max 5"):
        _targets(db_pool_min=10, db_pool_max=5)


# -- host output ---------------------------------------------------------------------------------------------------


def _result(stdout: str, code: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult(exit_code=code, stdout=stdout, stderr=stderr)


def test_the_pool_command_and_what_it_prints() -> None:
    target = _targets().get("demo")
    assert pool_command(target, PoolEvent(host="demo", action="read")).env["POOL_SIZE"] == "read"
    assert pool_command(target, PoolEvent(host="demo", action="restore")).env["POOL_SIZE"] == ""
    assert pool_command(target, PoolEvent(host="demo", action="set", size=20)).env["POOL_SIZE"] == "20"
    with pytest.raises(InvalidInput, match="size: set needs"):
        pool_command(target, PoolEvent(host="demo", action="set"))
    out = "previous=10\nsize=20\nran=docker compose up -d --no-deps --force-recreate backend\nafter.backend=running\n"
    result = read_pool(target, _result(out))
    assert (result.previous, result.size, result.after) == (10, 20, {"backend": "running"})
    assert read_pool(target, _result("previous=\n")).previous is None
    assert read_pool(target, _result("previous=15\n")).size == 15  # a read leaves it as it is
    with pytest.raises(MaintenanceRefused, match=r"no /opt/freshtrack-pro/\.env\.production"):
        read_pool(target, _result("", 66))
    with pytest.raises(MaintenanceFailed, match="at `docker compose up"):
        read_pool(target, _result("previous=10\nsize=20\nran=docker compose up -d backend\n", 1, "boom"))


def test_the_rotation_command_and_what_it_prints() -> None:
    target = _targets().get("demo")
    env = rotation_command(target, RotationEvent(host="demo", rotation="rotate")).env
    assert env["ROTATION"] == "rotate" and env["DB_ROLE"] == "frostguard" and "PASSWORD" not in " ".join(env)
    out = "env_updated=JWT_SECRET\nrotated=postgres_password\nrotated=jwt_secret\nran=docker compose down\n"
    result = read_rotation(target, RotationEvent(host="demo", rotation="rotate"), _result(out))
    assert result.rotated == ["postgres_password", "jwt_secret"] and result.env_updated == ["JWT_SECRET"]
    with pytest.raises(RotationPending, match="not finished"):
        read_rotation(target, RotationEvent(host="demo", rotation="rotate"), _result("", 67, "was not finished"))
    with pytest.raises(MaintenanceRefused):
        read_rotation(target, RotationEvent(host="demo", rotation="rotate"), _result("", 66, "no secrets"))
    with pytest.raises(MaintenanceFailed, match="revert failed"):
        read_rotation(target, RotationEvent(host="demo", rotation="revert"), _result("", 1))


# -- the record ----------------------------------------------------------------------------------------------------


def _outcome(outcome: str, **fields: Any) -> MaintenanceOutcomeEvent:
    plan, _ = _plan("db-pool", {"host": "demo", "size": 20})
    return MaintenanceOutcomeEvent.model_validate(
        {"plan": plan.model_dump(mode="json"), "outcome": outcome, "execution_id": EXECUTION, **fields}
    )


ERROR = {"Error": "VerificationFailed", "Cause": "demo: scripts/verify-deployment.sh still failed after 3 attempts"}


def test_success_says_what_changed_and_names_the_backup() -> None:
    reports = {"backup": {"backup_id": "demo-20261201T040000Z-0a1b2c3d", "dump_key": "backups/demo/x.dump"},
               "change": {"previous": 10, "size": 20}, "health": {"summary": "200 ok; 5 services running"}}  # fmt: skip
    record = describe(_outcome("succeeded", reports=reports))
    assert record.subject == "FreshTrack db-pool on demo: done" and record.error_name == ""
    assert "DB_POOL_SIZE: 10 -> 20" in record.message and "demo-20261201T040000Z-0a1b2c3d" in record.message


@pytest.mark.parametrize(
    ("outcome", "subject", "says"),
    [
        ("failed", "FAILED", "Nothing was changed on the host"),
        ("reverted", "FAILED: reverted", "runs as before the maintenance"),
        ("revert-failed", "FAILED, revert FAILED", "The host lock is kept"),
        ("host-lost", "HOST NOT BACK", "did not answer again"),
    ],
)
def test_a_failure_says_where_it_stopped_and_what_state_the_host_is_in(outcome: str, subject: str, says: str) -> None:
    record = describe(_outcome(outcome, stage="Verify", error=ERROR))
    assert record.subject == f"FreshTrack db-pool on demo {subject}".replace("demo HOST", "demo: HOST")
    assert "Stopped at: Verify" in record.message and says in record.message
    assert (record.error_name, record.error_cause) == ("VerificationFailed", ERROR["Cause"])


def test_a_dry_run_lists_every_command() -> None:
    event = _outcome("dry-run")
    record = describe(event)
    assert all(f"  {command}" in record.message for command in event.plan.commands)
    assert "nothing was changed and no lock taken" in record.message


def test_a_failed_revert_names_both_errors() -> None:
    revert = {"Error": "MaintenanceFailed", "Cause": "demo: db_pool.sh failed"}
    record = describe(_outcome("revert-failed", stage="RevertPool", error=ERROR, revert_error=revert))
    assert "Revert error: MaintenanceFailed: demo: db_pool.sh failed" in record.message
