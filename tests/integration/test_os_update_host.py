"""os_update.sh on a local host, through the os-update host steps: over SSH (a real sshd) for the upgrade cases and
the reboot's power cycle, and through the local SSM agent for the agent's reboot (exit 194). One host for the
module; each test leaves it powered on, without faults."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.adapters.ssh import SshRunner, load_private_key
from freshtrack_ops.config import SshTarget, SsmTarget
from freshtrack_ops.errors import AptLockTimeout, HostUnreachable, OsUpdateFailed
from freshtrack_ops.host_scripts.ssm_document import document_name
from freshtrack_ops.maintenance import os_host
from freshtrack_ops.maintenance.os_models import HostEvent, HostProbe, OsUpgradeEvent, OsUpgradeReport, ProbeEvent
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.registry import HOST_PROBE, OS_REBOOT, OS_UPGRADE
from opsctl.local import ssm_executor
from opsctl.local.host import LocalHost
from opsctl.local.names import SSM_DOCUMENT_PREFIX
from opsctl.local.sshd import available as sshd_available
from opsctl.local.ssm_side import SsmSide
from opsctl.local.stand_ins import apt_check, files

pytestmark = pytest.mark.integration

KERNEL = [
    ("openssl", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.12", False),
    ("linux-image-generic", "5.15.0.88.85", "5.15.0.91.88", True),
    ("linux-image-5.15.0-91-generic", "", "5.15.0-91.101", True),  # new with the upgrade
]
OPENSSL_ONLY = [("openssl", "3.0.2-0ubuntu1.12", "3.0.2-0ubuntu1.13", False)]
INSTANCE = "mi-0a1b2c3d4e5f60718"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalHost(tmp_path_factory.mktemp("os-update"), "demo", readings=500) as local_host:
        local_host.reboot_delay_s = 1.0
        yield local_host


@pytest.fixture(autouse=True)
def _clean(host: LocalHost) -> Iterator[None]:
    yield
    host.set_apt_fault()
    host.set_reboot_fault(never_returns=False)
    host.power_on()
    host.set_reboot_required(None)
    assert host.power_errors == []


def ssh_target(host: LocalHost, **maintenance: Any) -> SshTarget:
    return SshTarget(
        id="demo",
        address="127.0.0.1",
        port=host.ssh_port or 22,
        user=host.ssh_user,
        private_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:demo-key-AbCdEf",
        host_public_key=host.ssh_host_public_key,
        connect_timeout_s=2.0,
        domain="demo.example.com",
        app_dir=str(host.app_dir),
        docker_bin=str(host.docker_bin),
        job_dir=str(host.root / "jobs"),
        maintenance=MaintenanceSettings(**maintenance),
    )


def over_ssh(host: LocalHost, target: SshTarget, call: Callable[[SshRunner], Any]) -> Any:
    """``call`` with a fresh SSH runner (the pinned host key, the host's client key), closed after."""
    runner = SshRunner(
        host_id=target.id,
        address=target.address,
        port=target.port,
        user=target.user,
        private_key=load_private_key(host.ssh_private_key),
        host_public_key=target.host_public_key,
        connect_timeout_s=target.connect_timeout_s,
    )
    try:
        return call(runner)
    finally:
        runner.close()


def upgrade(host: LocalHost, **maintenance: Any) -> OsUpgradeReport:
    target = ssh_target(host, **maintenance)
    event = OsUpgradeEvent(host="demo", run_id="os-update-test")
    report: OsUpgradeReport = over_ssh(host, target, lambda runner: OS_UPGRADE.run(event, target, runner))
    return report


def probe(host: LocalHost) -> HostProbe:
    target = ssh_target(host)
    answer: HostProbe = over_ssh(host, target, lambda runner: HOST_PROBE.run(ProbeEvent(host="demo"), target, runner))
    return answer


# -- upgrades ---------------------------------------------------------------------------------------------------
def test_an_upgrade_with_nothing_to_do(host: LocalHost) -> None:
    host.set_os_updates([])
    report = upgrade(host)
    assert report.upgraded == [] and not report.reboot_required and not report.rebooted
    assert report.boot_id == host.boot_id() and report.lock_waited_s == 0


def test_an_upgrade_with_a_new_kernel_requires_a_reboot(host: LocalHost) -> None:
    host.set_os_updates(KERNEL)
    assert files.read(apt_check.path(host.state_dir), apt_check.default_state)["updates"] == 3
    report = upgrade(host)
    assert [(p.name, p.from_version, p.to_version) for p in report.upgraded] == [
        ("openssl", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.12"),
        ("linux-image-generic", "5.15.0.88.85", "5.15.0.91.88"),
        ("linux-image-5.15.0-91-generic", None, "5.15.0-91.101"),  # --with-new-pkgs, as `apt upgrade`
    ]
    assert report.reboot_required
    assert report.reboot_packages == ["linux-image-5.15.0-91-generic", "linux-image-generic"]
    assert host.installed_packages() == {name: candidate for name, _, candidate, _ in KERNEL}
    assert host.reboot_required_file.exists()
    # the daily check's apt-check agrees: nothing pending any more
    assert files.read(apt_check.path(host.state_dir), apt_check.default_state)["updates"] == 0


def test_a_dpkg_lock_held_shorter_than_the_wait_is_waited_for(host: LocalHost) -> None:
    host.set_os_updates(OPENSSL_ONLY)
    host.set_apt_fault(lock_held_s=2.0)
    report = upgrade(host, dpkg_lock_wait_s=20)
    assert [p.to_version for p in report.upgraded] == ["3.0.2-0ubuntu1.13"]
    assert report.lock_waited_s >= 1
    assert host.installed_packages()["openssl"] == "3.0.2-0ubuntu1.13"


def test_a_dpkg_lock_held_longer_than_the_wait_stops_the_update(host: LocalHost) -> None:
    host.set_os_updates(OPENSSL_ONLY)
    host.set_apt_fault(lock_held_s=60.0)
    began = time.monotonic()
    with pytest.raises(AptLockTimeout, match=r"past 2 s at `apt-get update`.*unattended-upgr"):
        upgrade(host, dpkg_lock_wait_s=2)
    assert time.monotonic() - began < 40  # not the 60 s the lock is held
    assert host.installed_packages()["openssl"] == "3.0.2-0ubuntu1.12"  # nothing upgraded


def test_a_failing_upgrade_says_what_dpkg_said(host: LocalHost) -> None:
    host.set_os_updates(OPENSSL_ONLY)
    host.set_apt_fault(fail=True)
    with pytest.raises(OsUpdateFailed, match=r"`apt-get -y upgrade` failed \(exit 70\).*dpkg returned an error code"):
        upgrade(host)
    assert host.installed_packages()["openssl"] == "3.0.2-0ubuntu1.12"


# -- the reboot (SSH) -------------------------------------------------------------------------------------------
def _probe_until(host: LocalHost, wanted: Callable[[HostProbe], bool], timeout_s: float) -> HostProbe:
    """Probe until an answer is ``wanted`` (a host that does not answer is probed again)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(HostUnreachable):
            answer = probe(host)
            if wanted(answer):
                return answer
        time.sleep(0.05)
    raise AssertionError(f"no wanted answer within {timeout_s} s")


def test_a_reboot_power_cycles_the_host(host: LocalHost) -> None:
    host.crash_service("worker")  # not running before the reboot: its restart policy leaves it stopped
    host.set_reboot_required(["linux-image-generic"])
    before = host.boot_id()
    down: list[str] = []

    def powered(on: bool) -> None:
        if not on:  # the moment the host is off: sshd refuses, which the wait loop sees as HostUnreachable
            try:
                probe(host)
            except HostUnreachable as exc:
                down.append(str(exc))
            down.append(str(host.services()))

    host.on_power = powered
    target = ssh_target(host)
    try:
        scheduled = over_ssh(host, target, lambda runner: OS_REBOOT.run(HostEvent(host="demo"), target, runner))
        assert scheduled.boot_id == before
        answer = _probe_until(host, lambda answer: answer.boot_id != before, timeout_s=20)
    finally:
        host.on_power = None
    assert len(down) == 2 and "cannot connect" in down[0] and "'backend': 'exited'" in down[1], down
    # the same pinned host key is accepted again
    assert answer.boot_id == host.boot_id() and answer.uptime_s <= 5 and not answer.reboot_required
    # sshd answers first, the containers come back as the boot goes on (the workflow's verification waits for them)
    expected = {"backend": "running", "worker": "exited", "postgres": "running", "redis": "running", "caddy": "running"}
    deadline = time.monotonic() + 10
    while host.services() != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host.services() == expected
    assert host.sql("SELECT count(*) FROM sensors")[0][0] > 0  # postgres is back with its data
    host.start_service("worker")


def test_a_host_that_never_comes_back_stays_down(host: LocalHost) -> None:
    host.set_reboot_fault(never_returns=True)
    host.reboot(0.1)
    time.sleep(0.5)
    assert not host.powered
    with pytest.raises(HostUnreachable):
        probe(host)
    host.power_on()  # by hand, as an operator would
    assert probe(host).boot_id == host.boot_id()


# -- the SSM agent's reboot -------------------------------------------------------------------------------------
@pytest.fixture
def ssm(host: LocalHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        side = SsmSide(lambda service: boto3.client(service, region_name=REGION), lambda event: None)  # type: ignore[call-overload]
        side.add_instance(INSTANCE, host)
        try:
            yield boto3.client("ssm", region_name=REGION)
        finally:
            side.stop()
            host.on_power = None
            ssm_executor.reset()


def test_the_ssm_agent_reboots_on_exit_194_and_runs_the_step_again(host: LocalHost, ssm: Any) -> None:
    host.set_os_updates(KERNEL)
    target = SsmTarget(
        id="demo-ssm", instance_id=INSTANCE, domain="demo.example.com", app_dir=str(host.app_dir),
        docker_bin=str(host.docker_bin), job_dir=str(host.root / "jobs"),
    )  # fmt: skip
    command = os_host.upgrade_command(target, "os-update-ssm-test", "ssm")
    before = host.boot_id()
    command_id = ssm.send_command(
        DocumentName=SSM_DOCUMENT_PREFIX + document_name(command.script),
        InstanceIds=[INSTANCE],
        Parameters={name: [value] for name, value in command.env.items()},
    )["Command"]["CommandId"]
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 30
    while True:
        invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=INSTANCE)
        ping = ssm.describe_instance_information()["InstanceInformationList"][0]["PingStatus"]
        seen.add((invocation["Status"], ping))
        if invocation["Status"] not in ("InProgress", "Pending") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ("InProgress", "ConnectionLost") in seen  # the agent is offline while the host reboots
    assert invocation["Status"] == "Success", invocation
    stdout = invocation["StandardOutputContent"]
    assert stdout.count("report=begin") == 2  # the second run's output follows the first's, as the agent keeps it
    report = os_host.read_upgrade(target, CommandResult(exit_code=0, stdout=stdout, stderr=""))
    assert report.rebooted and report.previous_boot_id == before and report.boot_id == host.boot_id() != before
    assert [p.name for p in report.upgraded] == [name for name, *_ in KERNEL] and report.reboot_required
    assert not host.reboot_required_file.exists()  # the boot cleared it
    assert host.services()["backend"] == "running"
    saved = host.root / "os-update" / "os-update-ssm-test.report"
    assert f"boot_id={before}" in saved.read_text(encoding="utf-8")
    assert json.loads((host.state_dir / "apt.json").read_text(encoding="utf-8"))["updates"] == 0
