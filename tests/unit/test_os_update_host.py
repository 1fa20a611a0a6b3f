"""The os-update host side without a host: os_update.sh's commands (environment within the parameter table, the
transport's limits) and what its output and exit codes become (maintenance/os_host.py)."""

from __future__ import annotations

from typing import cast

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.config import LocalTarget, SshTarget, SsmTarget
from freshtrack_ops.errors import (
    AptLockTimeout,
    AptTimedOut,
    HostCommandTimeout,
    HostConnectionLost,
    HostUnreachable,
    InvalidInput,
    OsUpdateFailed,
)
from freshtrack_ops.maintenance import os_host
from freshtrack_ops.maintenance.os_models import PackageUpgrade, ProbeEvent
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.steps.registry import HOST_PROBE, OS_REBOOT, OS_UPGRADE, STEPS

COMMON = {"domain": "demo.example.com", "app_dir": "/opt/freshtrack-pro", "docker_bin": "/usr/bin/docker"}
SSH = SshTarget(
    id="demo",
    address="127.0.0.1",
    private_key_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:demo-key-AbCdEf",
    host_public_key="ssh-ed25519 " + "A" * 68,
    maintenance=MaintenanceSettings(dpkg_lock_wait_s=900, apt_timeout_s=3600),
    **COMMON,
)
SSM = SsmTarget(
    id="demo-ssm",
    instance_id="i-0123456789abcdef0",
    maintenance=MaintenanceSettings(dpkg_lock_wait_s=300, apt_timeout_s=3600),
    **COMMON,
)
LOCAL = LocalTarget(id="demo-local", **COMMON)
BOOT = "3f2b8c1e-7a4d-4e5f-9b0a-1c2d3e4f5a6b"
NEW_BOOT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
REPORT = f"""report=begin
upgraded=openssl 3.0.2-0ubuntu1.10 3.0.2-0ubuntu1.12
upgraded=linux-image-5.15.0-91-generic - 5.15.0-91.101
reboot_required=yes
reboot_pkg=linux-image-5.15.0-91-generic
lock_waited_s=3
boot_id={BOOT}
rebooted=no
"""


def result(code: int, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(exit_code=code, stdout=stdout, stderr=stderr)


# -- commands ---------------------------------------------------------------------------------------------------
def test_the_upgrade_command_carries_the_targets_limits_within_the_parameter_table() -> None:
    command = os_host.upgrade_command(SSM, "os-update-0123abcd", "ssm")
    assert command.script == "os_update.sh"
    assert dict(command.env) == {
        "ACTION": "upgrade",
        "DPKG_LOCK_WAIT_S": "300",
        "APT_TIMEOUT_S": "3600",
        "REBOOT": "ssm",
        "RUN_ID": "os-update-0123abcd",
        "STATE_DIR": "/var/tmp/freshtrack-ops/os-update",  # beside the job dir: a reboot keeps /var/tmp
    }
    assert command.timeout_s > 3600
    for target, cmd in ((SSM, command), (SSH, os_host.reboot_command(SSH)), (SSH, os_host.probe_command(SSH))):
        assert host_scripts.script_env(cmd.script, cmd.env) == dict(cmd.env), target.id  # patterns hold


def test_over_ssh_the_upgrade_fits_one_task_invocation() -> None:
    command = os_host.upgrade_command(SSH, "run-1", "none")
    assert command.env["APT_TIMEOUT_S"] == str(os_host.INLINE_APT_LIMIT_S)
    assert command.env["DPKG_LOCK_WAIT_S"] == str(os_host.INLINE_APT_LIMIT_S)  # never longer than apt may run
    assert command.timeout_s < 900  # Lambda's limit


def test_refused_commands() -> None:
    with pytest.raises(InvalidInput, match="only an SSM target"):
        os_host.upgrade_command(SSH, "run-1", "ssm")
    with pytest.raises(InvalidInput, match="local target"):
        os_host.upgrade_command(LOCAL, "run-1", "none")
    with pytest.raises(InvalidInput, match="local target"):
        os_host.reboot_command(LOCAL)
    assert os_host.probe_command(LOCAL).env == {"ACTION": "probe"}  # reads only
    assert os_host.reboot_mode_for(SSM) == "ssm" and os_host.reboot_mode_for(SSH) == "none"
    with pytest.raises(InvalidInput, match="RUN_ID"):
        host_scripts.script_env("os_update.sh", {"ACTION": "upgrade", "RUN_ID": "../../etc/passwd"})


# -- reports ----------------------------------------------------------------------------------------------------
def test_an_upgrade_report() -> None:
    report = os_host.read_upgrade(SSH, result(0, REPORT))
    assert report.upgraded == [
        PackageUpgrade(name="openssl", from_version="3.0.2-0ubuntu1.10", to_version="3.0.2-0ubuntu1.12"),
        PackageUpgrade(name="linux-image-5.15.0-91-generic", from_version=None, to_version="5.15.0-91.101"),
    ]
    assert report.reboot_required and report.reboot_packages == ["linux-image-5.15.0-91-generic"]
    assert (report.boot_id, report.rebooted, report.lock_waited_s, report.previous_boot_id) == (BOOT, False, 3, None)


def test_after_the_agents_reboot_the_last_runs_report_counts() -> None:
    """The agent appends the second run's output to the first's: the report after the last report=begin wins."""
    second = REPORT.replace(f"boot_id={BOOT}\nrebooted=no\n", "")
    second += f"rebooted=yes\nprevious_boot_id={BOOT}\nboot_id={NEW_BOOT}\n"
    report = os_host.read_upgrade(SSM, result(0, "apt noise\n" + REPORT + second))
    assert len(report.upgraded) == 2  # not four
    assert (report.rebooted, report.boot_id, report.previous_boot_id) == (True, NEW_BOOT, BOOT)


def test_nothing_to_upgrade() -> None:
    out = f"report=begin\nreboot_required=no\nlock_waited_s=0\nboot_id={BOOT}\nrebooted=no\n"
    report = os_host.read_upgrade(SSH, result(0, out))
    assert report.upgraded == [] and not report.reboot_required and report.reboot_packages == []


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (75, AptLockTimeout, "held the lock past 600 s at `apt-get update`"),
        (76, AptTimedOut, "ran past the apt time limit"),
        (70, OsUpdateFailed, "`apt-get update` failed (exit 70) after waiting 12 s for the dpkg lock"),
        (64, InvalidInput, "refused its parameters"),
        (69, OsUpdateFailed, "needs root"),
        (194, OsUpdateFailed, "exit 194"),
        (1, OsUpdateFailed, "exit 1"),
    ],
)
def test_exit_codes_are_named_errors(code: int, error: type[Exception], words: str) -> None:
    target = SSH.model_copy(update={"maintenance": MaintenanceSettings()})
    stderr = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (unattended-upgr)"
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        os_host.read_upgrade(target, result(code, "failed=apt-get update\nlock_waited_s=12\n", stderr))


def test_an_unreadable_report_fails_by_name() -> None:
    with pytest.raises(OsUpdateFailed, match="no readable report"):
        os_host.read_upgrade(SSH, result(0, "report=begin\nreboot_required=yes\n"))
    with pytest.raises(OsUpdateFailed, match="no readable report"):
        os_host.read_upgrade(SSH, result(0, REPORT.replace(BOOT, "not-a-boot-id")))


def test_probe_and_reboot_answers() -> None:
    probe = os_host.read_probe(SSH, result(0, f"boot_id={BOOT}\nuptime_s=42\nreboot_required=no\n"))
    assert (probe.boot_id, probe.uptime_s, probe.reboot_required) == (BOOT, 42, False)
    assert os_host.read_reboot(SSH, result(0, f"boot_id={BOOT}\n")).boot_id == BOOT
    with pytest.raises(OsUpdateFailed, match="`systemd-run systemctl reboot` failed"):
        os_host.read_reboot(SSH, result(71, f"boot_id={BOOT}\nfailed=systemd-run systemctl reboot\n", "denied"))
    with pytest.raises(OsUpdateFailed, match="no readable answer"):
        os_host.read_probe(SSH, result(0, "boot_id=\n"))


# -- steps ------------------------------------------------------------------------------------------------------
def test_the_steps_are_registered_by_name() -> None:
    assert STEPS["os-upgrade"] is OS_UPGRADE and STEPS["os-reboot"] is OS_REBOOT and STEPS["host-probe"] is HOST_PROBE


class _Runner:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, *args: object, **kwargs: object) -> CommandResult:
        raise self.error

    def close(self) -> None:
        return None


@pytest.mark.parametrize(
    "error",
    [HostUnreachable("refused"), HostConnectionLost("dropped"), HostCommandTimeout("no output")],
)
def test_a_probe_of_a_host_going_down_is_unreachable(error: Exception) -> None:
    """The wait loop catches HostUnreachable: a session that drops or stalls while the host goes down is one too."""
    with pytest.raises(HostUnreachable):
        HOST_PROBE.run(ProbeEvent(host="demo"), SSH, cast(HostRunner, _Runner(error)))


def test_a_server_closing_mid_handshake_is_a_named_ssh_error() -> None:
    """paramiko raises a bare EOFError when sshd goes away before it answers (seen while a host powers off): the
    adapter names it, so the probe's HostUnreachable mapping (and every Catch) sees an OpsError."""
    from freshtrack_ops.adapters.ssh import SshRunner

    class Closing:
        def is_active(self) -> bool:
            return True

        def open_session(self, timeout: float) -> None:
            raise EOFError

    runner = SshRunner(
        host_id="demo",
        address="127.0.0.1",
        port=22,
        user="root",
        private_key=None,  # type: ignore[arg-type] # never used: the transport is given
        host_public_key="ssh-ed25519 " + "A" * 68,
    )
    runner._transport = Closing()  # type: ignore[assignment]
    with pytest.raises(HostConnectionLost, match="EOFError"):
        runner.check()
    with pytest.raises(HostUnreachable):
        HOST_PROBE.run(ProbeEvent(host="demo"), SSH, runner)
