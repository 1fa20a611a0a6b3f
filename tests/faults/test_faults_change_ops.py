"""Faults injected into disaster recovery, remediation and maintenance (docs/reliability.md; what each promises:
docs/disaster-recovery.md, docs/remediation.md, docs/maintenance.md).

One lean plane for the module (2,000 readings; the update tests' plane, whose targets all have a ``dr`` section).
Every case takes the invariants' snapshot first, injects one fault, runs, asserts the promised behaviour and every
invariant, then records its row (last). Host commands are held at gates where a fault must meet a running workflow:
nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.dr.models import DR_ID_TAG
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.remediation.settings import RemediationSettings
from opsctl.local import faults, iam
from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from tests.faults import invariants, matrix
from tests.integration.conftest import hold, update_plane, verified_backup

KERNEL = ("linux-image-amd64", "6.1.112-1", "6.1.119-1", True)
OPENSSL = ("openssl", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1", False)


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        for host in local_plane.hosts():
            local_plane.host(host).reboot_delay_s = 0.5
            _maintenance(local_plane, host, verify_window_s=10, reboot_wait_s=3600)
        yield local_plane


@pytest.fixture(scope="module")
def drill_backup(plane: LocalPlane) -> dict[str, Any]:
    """A backup of "demo" whose test restore passed: what the disaster recoveries restore."""
    return verified_backup(plane, "demo")


def _maintenance(plane: LocalPlane, host: str, **changes: Any) -> None:
    settings = plane.target(host).maintenance.model_dump() | changes
    plane.update_target(host, maintenance=MaintenanceSettings.model_validate(settings).model_dump())


def _remediation(plane: LocalPlane, host: str, **changes: Any) -> None:
    plane.update_target(host, remediation=RemediationSettings(**changes).model_dump())


def _audit_status(host: str, ex: Execution) -> str:
    with iam.plane_calls():
        return str(next(e for e in runtime.audit_log().entries(host) if e.execution_arn == ex.arn).status)


def _dr_id(ex: Execution) -> str:
    return str(((ex.state_output("ValidateInput") or {}).get("plan") or {}).get("dr_id", "?"))


def _bootstrap_log(ex: Execution) -> Callable[[str], bool]:
    """The replacement's bootstrap log (deploy-logs/<replacement>/<DR id>/...): kept by design, like an update's."""
    dr_id = _dr_id(ex)
    return lambda key: key.startswith("deploy-logs/") and f"/{dr_id}/" in key


def _dr_instances(plane: LocalPlane, ex: Execution) -> set[str]:
    """The EC2 instances this DR launched (tagged with its DR id), terminated or not."""
    dr_id = _dr_id(ex)
    reservations = plane.client("ec2").describe_instances(Filters=[{"Name": f"tag:{DR_ID_TAG}", "Values": [dr_id]}])
    return {i["InstanceId"] for r in reservations["Reservations"] for i in r["Instances"]}


def _new_backup(plane: LocalPlane, before: invariants.Snapshot, host: str, trigger: str) -> Callable[[str], bool]:
    """The objects of the one backup of ``host`` with ``trigger`` taken since ``before`` (dump + manifest): what
    a maintenance run adds by design (its pre-maintenance backup)."""
    added = invariants.objects(plane) - before.objects
    ids = {
        key.removesuffix(".manifest.json").rsplit("/", 1)[-1]
        for key in added
        if key.startswith(f"backups/{host}/")
        and key.endswith(".manifest.json")
        and plane.manifest(key)["trigger"] == trigger
    }
    assert len(ids) == 1, f"not one {trigger} backup: {sorted(added)}"
    (backup_id,) = ids
    return lambda key: key.startswith(f"backups/{host}/") and backup_id in key


# -- disaster recovery ------------------------------------------------------------------------------------------


def test_route53_refusing_the_record_change_leaves_dns_and_inventory(
    plane: LocalPlane, drill_backup: dict[str, Any]
) -> None:
    host = "demo"
    domain = plane.target(host).domain
    before = invariants.snapshot(plane, host)
    dns, inventory = plane.dns_records(domain), plane.inventory().get(host)
    # Route 53 answers a change while an earlier one on the zone is still in progress with PriorRequestNotComplete
    # (HTTP 400; Route 53 API reference, ChangeResourceRecordSets, Errors); the SDK retries it, and here it never ends
    busy = faults.ApiFault("route-53", "ChangeResourceRecordSets", "PriorRequestNotComplete", times=None)
    with faults.armed(busy):
        ex = plane.run("disaster-recovery", {"host": host, "mode": "recover", "confirm": domain})

    assert busy.hits > 1, "the SDK retried the refused change"
    assert "DnsUpsert" in ex.state_names() and "Promote" not in ex.state_names()
    assert plane.dns_records(domain) == dns and plane.inventory().get(host) == inventory
    assert plane.servers().promotions == ()
    launched = _dr_instances(plane, ex)
    assert len(launched) == 1, launched
    # docs/disaster-recovery.md: a failed recovery keeps its server for forensics (found by its DR tag)
    held = invariants.check(
        plane, before, ex, end="FAILED PriorRequestNotComplete", new_instances=launched.__contains__,
        new_objects=_bootstrap_log(ex),
        notification="DNS and inventory unchanged",
    )  # fmt: skip
    plane.client("ec2").terminate_instances(InstanceIds=sorted(launched))  # the operator, after the forensics
    matrix.record(
        "test_route53_refusing_the_record_change_leaves_dns_and_inventory",
        fault="Route 53 ChangeResourceRecordSets answers PriorRequestNotComplete on every try",
        workflow="disaster-recovery", state="DnsUpsert", transport="ssh",
        end_state="FAILED before the DNS change: record and inventory unchanged, replacement kept for forensics",
        invariants=held,
    )  # fmt: skip


def test_s3_failing_the_backup_download_of_a_drill(plane: LocalPlane, drill_backup: dict[str, Any]) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    dump_key = drill_backup["dump_key"]
    broken = faults.ApiFault(
        "s3", "GetObject", "InternalError", times=None, matches=lambda request: dump_key in request.url
    )
    with faults.armed(broken):
        ex = plane.run("disaster-recovery", {"host": host, "backup_id": drill_backup["backup_id"]})

    assert broken.hits > 1, "the SDK retried the 500"
    names = ex.state_names()
    assert "RestoreDatabase" in names and "TerminateAfterFailure" in names and "DnsUpsert" not in names
    assert plane.dr_history(host)[0]["outcome"] == "failed"
    # the stream's S3 read still failing after the SDK's attempts is DownloadFailed (the shared backup store's: the
    # restore workflows end the same way), its message naming the object, GetObject and InternalError
    assert "InternalError" in (ex.cause or "") and "GetObject" in (ex.cause or ""), ex.cause
    held = invariants.check(
        plane, before, ex, end="FAILED DownloadFailed", new_objects=_bootstrap_log(ex),
        notification="DNS and inventory unchanged",
    )  # fmt: skip
    matrix.record(
        "test_s3_failing_the_backup_download_of_a_drill",
        fault="S3 GetObject of the backup answers 500 InternalError on every try", workflow="disaster-recovery",
        state="RestoreDatabase", transport="ssh",
        end_state="FAILED DownloadFailed: the drill server terminated, nothing else changed",
        invariants=held,
    )  # fmt: skip


def test_ec2_without_capacity_for_the_replacement(plane: LocalPlane, drill_backup: dict[str, Any]) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    full = faults.ApiFault("ec2", "RunInstances", "InsufficientInstanceCapacity", times=None)
    with faults.armed(full):
        ex = plane.run("disaster-recovery", {"host": host})

    assert full.hits > 1, "the SDK retried the server error"
    assert "Bootstrap" not in ex.state_names()
    assert _dr_instances(plane, ex) == set()
    held = invariants.check(
        plane, before, ex, end="FAILED InstanceCapacityUnavailable", notification="DNS and inventory unchanged"
    )
    matrix.record(
        "test_ec2_without_capacity_for_the_replacement",
        fault="EC2 RunInstances answers InsufficientInstanceCapacity on every try", workflow="disaster-recovery",
        state="Launch", transport="ssh", end_state="FAILED InstanceCapacityUnavailable: nothing launched or changed",
        invariants=held,
    )  # fmt: skip


# -- remediation ------------------------------------------------------------------------------------------------


def test_restarting_the_service_fails(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    _remediation(plane, host)
    local.crash_service("backend")
    before = invariants.snapshot(plane, host)
    local.set_fault("compose:restart", {"fail": True, "message": "Error response from daemon: cannot restart"})
    try:
        ex = plane.run("remediation", {"host": host, "action": "restart-service", "service": "backend"})
    finally:
        local.set_fault("compose:restart", None)

    assert "Verify" not in ex.state_names(), "a failed action is not verified"
    assert _audit_status(host, ex) == "failed"
    held = invariants.check(plane, before, ex, end="FAILED RemediationFailed", notification="remediation FAILED")
    local.start_service("backend")
    matrix.record(
        "test_restarting_the_service_fails", fault="docker compose restart backend fails", workflow="remediation",
        state="Act", transport="ssh", end_state="FAILED RemediationFailed: lock released, audit failed",
        invariants=held,
    )  # fmt: skip


def test_the_restarted_service_keeps_failing(plane: LocalPlane) -> None:
    host = "demo-ssm"
    local = plane.host(host)
    _remediation(plane, host, verify_timeout_s=5)
    local.crash_service("backend")
    before = invariants.snapshot(plane, host)
    local.set_fault("health", {"fail": True})  # the backend comes up and crashes on every request (503)
    try:
        ex = plane.run("remediation", {"host": host, "action": "compose-up", "service": "backend"})
    finally:
        local.set_fault("health", None)
        _remediation(plane, host)

    assert invariants.history_errors(ex).count("VerificationFailed") >= 2, "the health check was tried again"
    assert _audit_status(host, ex) == "failed"
    held = invariants.check(plane, before, ex, end="FAILED RemediationFailed", notification="remediation FAILED")
    matrix.record(
        "test_the_restarted_service_keeps_failing",
        fault="the backend starts but keeps failing its health check (503)", workflow="remediation",
        state="Verify", transport="ssm", end_state="FAILED RemediationFailed after verify_timeout_s",
        invariants=held,
    )  # fmt: skip


def test_remediation_while_a_backup_holds_the_lock(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    _remediation(plane, host, lock_wait_s=10)
    before = invariants.snapshot(plane, host)
    with hold(local, "pg_dump", unless_arg="--version") as dump:
        backup_arn = plane.start_execution("backup", {"host": host, "reason": "holds the lock"})
        dump.wait_held()
        ex = plane.run("remediation", {"host": host, "action": "restart-service", "service": "backend"})
        assert plane.lock_item(host) is not None, "the backup still holds the lock"
    backup = plane.wait(backup_arn, "backup")
    _remediation(plane, host)

    assert backup.status == "SUCCEEDED", (backup.error, backup.cause)
    assert "Act" not in ex.state_names(), "a remediation that gave way must not act"
    assert _audit_status(host, ex) == "gave-way"
    output = backup.output or {}
    held = invariants.check(
        plane, before, ex, end="SUCCEEDED",
        new_objects=lambda key: key in (output.get("dump_key"), output.get("manifest_key")),
        notification=["remediation deferred", "backup succeeded"],
    )  # fmt: skip
    matrix.record(
        "test_remediation_while_a_backup_holds_the_lock",
        fault="a backup holds the host lock for longer than lock_wait_s", workflow="remediation",
        state="AcquireLock", transport="ssh", end_state="SUCCEEDED (gave way: nothing acted, the backup finished)",
        invariants=held,
    )  # fmt: skip


def test_disk_still_full_after_the_cleanup(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    _remediation(plane, host, verify_timeout_s=5)
    before = invariants.snapshot(plane, host)
    local.set_disk_use(97)  # what prune frees does not bring it under disk_threshold_percent (85)
    try:
        ex = plane.run("remediation", {"host": host, "action": "disk-cleanup"})
    finally:
        local.set_disk_use(None)
        _remediation(plane, host)

    assert _audit_status(host, ex) == "failed"
    ran = [" ".join(c) for c in local.commands()]
    assert any("system prune -af" in c for c in ran) and not any("--volumes" in c for c in ran), "never the volumes"
    held = invariants.check(plane, before, ex, end="FAILED RemediationFailed", notification="remediation FAILED")
    matrix.record(
        "test_disk_still_full_after_the_cleanup", fault="the disk stays 97 % full after docker system prune",
        workflow="remediation", state="Verify", transport="ssh",
        end_state="FAILED RemediationFailed: no volume pruned, data untouched", invariants=held,
    )  # fmt: skip


def test_sns_down_when_the_breaker_opens(plane: LocalPlane) -> None:
    host = "demo-ssm"
    # the filesystem is always above 1 % used: the cleanup runs and its verification cannot pass; one failure opens
    # the breaker, whose escalation is a notification of its own
    _remediation(plane, host, disk_threshold_percent=1, verify_timeout_s=5, breaker_failures=1)
    before = invariants.snapshot(plane, host)
    down = faults.ApiFault("sns", "Publish", "InternalError", times=None)
    try:
        with faults.armed(down):
            ex = plane.run("remediation", {"host": host, "action": "disk-cleanup"})
    finally:
        _remediation(plane, host)

    assert down.hits >= 2, "the escalation and the outcome's notification were both tried"
    assert _audit_status(host, ex) == "failed", "the audit entry is closed whatever SNS does"
    held = invariants.check(plane, before, ex, end="FAILED RemediationFailed")
    matrix.record(
        "test_sns_down_when_the_breaker_opens", fault="SNS Publish answers 500 while the breaker escalates",
        workflow="remediation", state="RecordFailure", transport="ssm",
        end_state="FAILED RemediationFailed, audited (no notification: SNS is down)",
        invariants=(*held[:-1], "no notification (SNS down)"),
    )  # fmt: skip


# -- maintenance ------------------------------------------------------------------------------------------------


def test_a_host_that_does_not_come_back_after_the_reboot(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    local.set_os_updates([KERNEL])
    before = invariants.snapshot(plane, host)
    local.set_reboot_fault(never_returns=True)
    _maintenance(plane, host, reboot_wait_s=30)  # three tries
    try:
        ex = plane.run("os-update", {"host": host, "reason": "fault matrix"})
    finally:
        _maintenance(plane, host, reboot_wait_s=3600)
        local.set_reboot_fault(never_returns=False)
        local.power_on()  # an operator brings it back (docs/runbooks.md: MaintenanceHostNotBack)

    assert _audit_status(host, ex) == "host-lost"
    backup = _new_backup(plane, before, host, "pre-maintenance")
    assert "Stopped at: RebootedLost" in plane.notifications()[-1]["Message"]
    held = invariants.check(
        plane, before, ex, end="FAILED HostNotBack", new_objects=backup,
        notification="HOST NOT BACK", kept_locks={host: ex.arn},
    )  # fmt: skip
    with iam.plane_calls():
        runtime.lock_table().release(host, ex.arn)  # the runbook: released once the host is back
    matrix.record(
        "test_a_host_that_does_not_come_back_after_the_reboot", fault="the host never comes back from its reboot",
        workflow="os-update", state="Rebooted", transport="ssh",
        end_state="FAILED HostNotBack: lock kept until its lease ends, alarm metric, where it stopped",
        invariants=held,
    )  # fmt: skip


def test_apt_failing_mid_upgrade(plane: LocalPlane) -> None:
    host = "demo-ssm"
    local = plane.host(host)
    local.set_os_updates([OPENSSL])
    installed = local.installed_packages()
    before = invariants.snapshot(plane, host)
    local.set_apt_fault(fail=True)
    try:
        ex = plane.run("os-update", {"host": host, "reason": "fault matrix"})
    finally:
        local.set_apt_fault()

    assert _audit_status(host, ex) == "reverted"
    assert set(local.services().values()) == {"running"}, "the services were started again and verified"
    assert local.installed_packages() == installed
    held = invariants.check(
        plane, before, ex, end="FAILED OsUpdateFailed", new_objects=_new_backup(plane, before, host, "pre-maintenance"),
        notification="reverted",
    )  # fmt: skip
    matrix.record(
        "test_apt_failing_mid_upgrade", fault="apt-get upgrade fails in dpkg (exit 100)", workflow="os-update",
        state="Upgrade", transport="ssm",
        end_state="FAILED OsUpdateFailed: services started again and verified (reverted)",
        invariants=held,
    )  # fmt: skip
