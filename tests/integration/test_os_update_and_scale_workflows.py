"""The os-update and scale workflows end to end on the local plane, per transport (SSH "demo", SSM "demo-ssm"):

- os-update: a verified pre-maintenance backup, the packages upgraded through the apt-get stand-in, a kernel's
  reboot (SSH: the workflow's reboot and a new boot id; SSM: the agent's exit 194), services back and verified,
  the packages in the notification; a host that never comes back keeps the lock, records host-lost (the alarm's
  metric) and says where it stopped; a dry run changes nothing.
- scale: the host's EC2 instance stopped (the host powers off), resized, started (it boots), verified, before and
  after in the notification; a type EC2 cannot start puts the old type back and verifies; a type not allowed is
  refused before anything runs.

Planning and wording: tests/unit/test_maintenance.py; the host side: tests/integration/test_os_update_host.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from opsctl.local import iam
from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import update_plane

pytestmark = pytest.mark.integration

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}
KERNEL = ("linux-image-amd64", "6.1.112-1", "6.1.119-1", True)
OPENSSL = ("openssl", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1", False)


def _set_maintenance(plane: LocalPlane, host: str, **changes: Any) -> None:
    settings = plane.target(host).maintenance.model_dump() | changes
    plane.update_target(host, maintenance=MaintenanceSettings.model_validate(settings).model_dump())


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    """Wait states take no time in the plane (moto_patches time_scale 0): the host-probe loop's tries
    (reboot_wait_s / 10 s) are what bounds a reboot here; 900 s is 90 tries, a few seconds of probing."""
    with update_plane() as local_plane:
        for host in local_plane.hosts():
            _set_maintenance(local_plane, host, verify_window_s=10, reboot_wait_s=900)
        yield local_plane


def _audit(host: str, execution_arn: str) -> Any:
    with iam.plane_calls():
        return next(e for e in runtime.audit_log().entries(host) if e.execution_arn == execution_arn)


def _run(plane: LocalPlane, workflow: str, request: dict[str, Any]) -> tuple[Execution, list[dict[str, Any]]]:
    seen = len(plane.notifications())
    ex = plane.run(workflow, request)
    plane.wait_ssm_idle()
    return ex, plane.notifications()[seen:]


def _instance(plane: LocalPlane, host: str) -> dict[str, Any]:
    reservations = plane.client("ec2").describe_instances(InstanceIds=[plane.ec2_instance_id(host)])["Reservations"]
    instance: dict[str, Any] = reservations[0]["Instances"][0]
    return instance


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_an_os_update_upgrades_reboots_and_verifies(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    local.set_os_updates([KERNEL, OPENSSL])
    boot_before = local.boot_id()
    ex, notes = _run(plane, "os-update", {"host": host, "reason": "December patches"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.installed_packages() == {"linux-image-amd64": "6.1.119-1", "openssl": "3.0.15-1~deb12u1"}
    assert local.boot_id() != boot_before and not local.reboot_required_file.exists()
    assert set(local.services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "succeeded"
    backup = plane.manifest((ex.output or {})["reports"]["backup"]["manifest_key"])
    assert backup["trigger"] == "pre-maintenance"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack os-update on {host}: done"
    assert "Upgraded 2 package(s):" in note["Message"] and "linux-image-amd64 6.1.112-1 -> 6.1.119-1" in note["Message"]
    assert "Reboot required: yes; rebooted: yes" in note["Message"]


def test_an_os_update_with_nothing_to_reboot_for_does_not_reboot(plane: LocalPlane) -> None:
    local = plane.host("demo")
    local.set_os_updates([("curl", "7.88.1-10+deb12u7", "7.88.1-10+deb12u8", False)])
    boot_before = local.boot_id()
    ex, notes = _run(plane, "os-update", {"host": "demo"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.boot_id() == boot_before
    assert "Reboot required: no; rebooted: no" in notes[0]["Message"]


def test_a_host_that_does_not_come_back_keeps_the_lock_and_says_where(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    local.set_os_updates([("linux-image-amd64", "6.1.119-1", "6.1.123-1", True)])
    local.set_reboot_fault(never_returns=True)
    _set_maintenance(plane, host, reboot_wait_s=30)  # three tries
    try:
        ex, notes = _run(plane, "os-update", {"host": host})
        assert ex.status == "FAILED" and ex.error == "HostNotBack", (ex.error, ex.cause)
        assert plane.lock_item(host) is not None  # kept: nothing else may touch the host
        assert _audit(host, ex.arn).status == "host-lost"
        (note,) = notes
        assert note["Subject"] == f"FreshTrack os-update on {host}: HOST NOT BACK"
        assert "Stopped at: RebootedLost" in note["Message"] and "did not answer again" in note["Message"]
        assert "Pre-maintenance backup:" in note["Message"]
    finally:
        _set_maintenance(plane, host, reboot_wait_s=900)
        local.set_reboot_fault(never_returns=False)
        local.power_on()
        with iam.plane_calls():
            runtime.lock_table().release(host, ex.arn)
    assert plane.lock_item(host) is None


def test_an_os_update_dry_run_lists_the_commands_and_installs_nothing(plane: LocalPlane) -> None:
    local = plane.host("demo-ssm")
    local.set_os_updates([("openssl", "3.0.14-1~deb12u2", "3.0.16-1~deb12u1", False)])
    before = local.installed_packages()
    ex, notes = _run(plane, "os-update", {"host": "demo-ssm", "dry_run": True})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.installed_packages() == before
    assert "reboot through the SSM Agent (exit 194)" in notes[0]["Message"]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_scale_resizes_the_instance_and_verifies(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    before = _instance(plane, host)["InstanceType"]
    wanted = "t3.large" if before != "t3.large" else "t3.xlarge"
    boot_before = local.boot_id()
    ex, notes = _run(plane, "scale", {"host": host, "instance_type": wanted, "confirm": host})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    instance = _instance(plane, host)
    assert (instance["InstanceType"], instance["State"]["Name"]) == (wanted, "running")
    assert local.boot_id() != boot_before and set(local.services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "succeeded"
    (note,) = notes
    assert f"Instance type: {before} -> {wanted}" in note["Message"]
    assert "CPU(s)" in note["Message"] and "MB memory" in note["Message"]


def test_a_type_ec2_cannot_start_puts_the_old_type_back(plane: LocalPlane) -> None:
    host = "demo-ssm"
    before = _instance(plane, host)["InstanceType"]
    wanted = "t3.xlarge" if before != "t3.xlarge" else "t3.large"
    plane.set_ec2_capacity_fault(wanted)
    try:
        ex, notes = _run(plane, "scale", {"host": host, "instance_type": wanted, "confirm": host})
    finally:
        plane.set_ec2_capacity_fault(None)
    assert ex.status == "FAILED" and ex.error == "InstanceCapacityUnavailable", (ex.error, ex.cause)
    instance = _instance(plane, host)
    assert (instance["InstanceType"], instance["State"]["Name"]) == (before, "running")
    assert set(plane.host(host).services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "reverted"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack scale on {host} FAILED: reverted"
    assert "Stopped at: StartInstance" in note["Message"]


def test_a_type_not_allowed_is_refused_before_anything_runs(plane: LocalPlane) -> None:
    before = _instance(plane, "demo")
    ex, _ = _run(plane, "scale", {"host": "demo", "instance_type": "m5.24xlarge", "confirm": "demo"})
    assert ex.status == "FAILED" and ex.error == "InvalidInput"
    assert "instance_type: not allowed for target 'demo'" in (ex.cause or "")
    assert _instance(plane, "demo")["State"] == before["State"]
