"""The OS update's host side: the commands of host_scripts/os_update.sh and what their output says.

os_update.sh prints ``key=value`` lines (its header lists them) and exits with a code naming what failed; here the
lines become ``OsUpgradeReport`` / ``RebootScheduled`` / ``HostProbe`` and the codes the errors of errors.py.

The SSM Agent's reboot (``REBOOT=ssm``): a step of an ``aws:runShellScript`` document that exits 194 makes the agent
reboot the instance and run that step again after the boot (amazon-ssm-agent, commit 1c217c89:
``agent/appconfig/constants_unix.go`` ``RebootExitCode = 194``; ``plugins/pluginutil/pluginutil_unix.go``
``GetStatus`` maps it to ``SuccessAndReboot``; ``framework/processor/processor.go`` then calls
``rebooter.RequestPendingReboot``, which runs ``/sbin/shutdown -r +1`` (``rebooter/rebooter_unix.go``: one minute
later); after the boot ``framework/runpluginutil/runpluginutil.go`` resets a ``SuccessAndReboot`` step to
``InProgress`` and runs it again; the command is InProgress meanwhile. 195 means nothing to the Linux agent (3010
is Windows' code). The step's stdout file is opened for appending and not cleaned up after a 194
(``iomodule/commandoutput.go``), so the final output is both runs' output, one after the other: the report is read
from the last ``report=begin`` line.
"""

from __future__ import annotations

import posixpath

from freshtrack_ops.config import LocalTarget, SsmTarget, Target
from freshtrack_ops.errors import AptLockTimeout, AptTimedOut, InvalidInput, OpsError, OsUpdateFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.maintenance.os_models import (
    HostProbe,
    OsUpgradeReport,
    PackageUpgrade,
    RebootMode,
    RebootScheduled,
)
from freshtrack_ops.ports import CommandResult

SCRIPT = "os_update.sh"
# os_update.sh's exit codes (its header)
EXIT_REFUSED = 64
EXIT_NO_ROOT = 69
EXIT_APT_FAILED = 70
EXIT_REBOOT_FAILED = 71
EXIT_LOCK_TIMEOUT = 75
EXIT_APT_TIMEOUT = 76
#: the SSM Agent's "reboot, then run this step again" (amazon-ssm-agent appconfig RebootExitCode, Linux)
EXIT_SSM_REBOOT = 194
#: what the report's first line says (the SSM Agent appends the run after a reboot to the first run's output)
REPORT_BEGIN = "report=begin"
#: a probe is quick or the host is not really up: past this the step says the host does not answer
PROBE_TIMEOUT_S = 30.0
REBOOT_TIMEOUT_S = 60.0
#: over SSH (and the local transport) the upgrade runs inside one task invocation (Lambda: 900 s at most): apt-get
#: is stopped this long after the start at the latest, whatever the target's apt_timeout_s, leaving time to report
INLINE_APT_LIMIT_S = 780
#: timeout(1)'s --kill-after in os_update.sh, and the time to start and report around apt
_APT_MARGIN_S = 30 + 30


def state_dir(target: Target) -> str:
    """Where os_update.sh keeps the report across an SSM reboot: beside the target's job dir (both under
    /var/tmp by default, which a reboot keeps)."""
    return posixpath.join(posixpath.dirname(target.job_dir.rstrip("/")), "os-update")


def reboot_mode_for(target: Target) -> RebootMode:
    """``ssm`` for an SSM target (the agent reboots), ``none`` otherwise (the workflow reboots over SSH)."""
    return "ssm" if isinstance(target, SsmTarget) else "none"


def _refuse_local(target: Target, what: str) -> None:
    """The local transport runs host scripts on the machine running the plane itself: apt and reboot there would
    change that machine, not a FreshTrack host."""
    if isinstance(target, LocalTarget):
        raise InvalidInput(f"host: {what} needs an SSH or SSM target; {target.id!r} is a local target (got local)")


def upgrade_command(target: Target, run_id: str, reboot_mode: RebootMode) -> HostCommand:
    """``os_update.sh upgrade``: apt-get update + upgrade within the target's maintenance limits."""
    _refuse_local(target, "an OS upgrade")
    if reboot_mode == "ssm" and not isinstance(target, SsmTarget):
        raise InvalidInput(f"reboot: only an SSM target's agent reboots with exit 194 (got {reboot_mode!r})")
    settings = target.maintenance
    apt_timeout = settings.apt_timeout_s
    if not isinstance(target, SsmTarget):
        apt_timeout = min(apt_timeout, INLINE_APT_LIMIT_S)
    env = {
        "ACTION": "upgrade",
        "DPKG_LOCK_WAIT_S": str(min(settings.dpkg_lock_wait_s, apt_timeout)),
        "APT_TIMEOUT_S": str(apt_timeout),
        "REBOOT": reboot_mode,
        "RUN_ID": run_id,
        "STATE_DIR": state_dir(target),
    }
    return HostCommand(SCRIPT, env, float(apt_timeout + _APT_MARGIN_S))


def reboot_command(target: Target) -> HostCommand:
    """``os_update.sh reboot``: the host reboots a few seconds after the command has returned."""
    _refuse_local(target, "a reboot")
    return HostCommand(SCRIPT, {"ACTION": "reboot"}, REBOOT_TIMEOUT_S)


def probe_command(target: Target) -> HostCommand:
    """``os_update.sh probe``: the boot id, the uptime, the reboot-required flag (reads only)."""
    return HostCommand(SCRIPT, {"ACTION": "probe"}, PROBE_TIMEOUT_S)


def report_lines(stdout: str) -> list[tuple[str, str]]:
    """The (key, value) lines of the last run's report: after the last ``report=begin`` when there is one."""
    lines = stdout.splitlines()
    starts = [index for index, line in enumerate(lines) if line == REPORT_BEGIN]
    pairs: list[tuple[str, str]] = []
    for line in lines[starts[-1] + 1 :] if starts else lines:
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            pairs.append((key, value.strip()))
    return pairs


def _upgrade(value: str) -> PackageUpgrade:
    name, _, versions = value.partition(" ")
    before, _, after = versions.partition(" ")
    return PackageUpgrade(name=name, from_version=None if before == "-" else before, to_version=after)


def parse_upgrade(stdout: str) -> OsUpgradeReport:
    """The report of a successful ``upgrade`` (ValueError / ValidationError when it is not one)."""
    pairs = report_lines(stdout)
    values = dict(pairs)
    missing = sorted({"reboot_required", "boot_id", "lock_waited_s"} - set(values))
    if missing:
        raise ValueError(f"the report lacks {', '.join(missing)}")
    return OsUpgradeReport(
        upgraded=[_upgrade(value) for key, value in pairs if key == "upgraded"],
        reboot_required=values["reboot_required"] == "yes",
        reboot_packages=[value for key, value in pairs if key == "reboot_pkg"],
        boot_id=values["boot_id"],
        rebooted=values.get("rebooted") == "yes",
        lock_waited_s=int(values["lock_waited_s"]),
        previous_boot_id=values.get("previous_boot_id"),
    )


def parse_probe(stdout: str) -> HostProbe:
    values = dict(report_lines(stdout))
    return HostProbe(
        boot_id=values["boot_id"],
        uptime_s=int(values["uptime_s"]),
        reboot_required=values["reboot_required"] == "yes",
        cpus=_number(values.get("cpus")),
        memory_mb=_number(values.get("memory_mb")),
        disk_gb=_number(values.get("disk_gb")),
    )


def _number(text: str | None) -> int | None:
    """A figure the probe read, or None when it could not (an empty value)."""
    return int(text) if text and text.isdigit() else None


def apt_says(stderr: str) -> str:
    """What apt's own error lines say (``E: ...``, the last three), else the output's last lines (redacted)."""
    errors = [line for line in stderr.splitlines() if line.startswith("E: ")][-3:]
    return tail("\n".join(errors)) if errors else tail(stderr)


def _failure(target: Target, what: str, result: CommandResult) -> OpsError:
    """The named error of a failed os_update.sh run (its exit code), saying where it stopped."""
    values = dict(report_lines(result.stdout))
    at = values.get("failed", what)
    waited = f" after waiting {values['lock_waited_s']} s for the dpkg lock" if "lock_waited_s" in values else ""
    code = result.exit_code
    cause = f"{target.id}: `{at}` failed (exit {code}){waited}: {apt_says(result.stderr)}"
    if code == EXIT_REFUSED:
        return InvalidInput(f"{target.id}: {SCRIPT} refused its parameters: {tail(result.stderr)}")
    if code == EXIT_LOCK_TIMEOUT:
        limit = target.maintenance.dpkg_lock_wait_s
        return AptLockTimeout(f"{target.id}: another apt/dpkg run held the lock past {limit} s at `{at}`; {cause}")
    if code == EXIT_APT_TIMEOUT:
        return AptTimedOut(f"{target.id}: `{at}` ran past the apt time limit and was stopped; {cause}")
    if code == EXIT_NO_ROOT:
        return OsUpdateFailed(f"{target.id}: {what} needs root or passwordless sudo: {tail(result.stderr)}")
    if code == EXIT_SSM_REBOOT:
        return OsUpdateFailed(f"{target.id}: {what} asked for the SSM Agent's reboot (exit 194) and was not run again")
    return OsUpdateFailed(cause)


def read_upgrade(target: Target, result: CommandResult) -> OsUpgradeReport:
    """The report of an ``upgrade`` run, or its named error (AptLockTimeout, AptTimedOut, OsUpdateFailed,
    InvalidInput)."""
    if result.exit_code != 0:
        raise _failure(target, "apt-get upgrade", result)
    try:
        return parse_upgrade(result.stdout)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise OsUpdateFailed(f"{target.id}: {SCRIPT} upgrade printed no readable report: {exc}") from exc


def read_reboot(target: Target, result: CommandResult) -> RebootScheduled:
    if result.exit_code != 0:
        raise _failure(target, "systemd-run systemctl reboot", result)
    try:
        return RebootScheduled(boot_id=dict(report_lines(result.stdout))["boot_id"])
    except (KeyError, ValueError) as exc:
        raise OsUpdateFailed(f"{target.id}: {SCRIPT} reboot printed no boot id: {exc}") from exc


def read_probe(target: Target, result: CommandResult) -> HostProbe:
    if result.exit_code != 0:
        raise _failure(target, "probe", result)
    try:
        return parse_probe(result.stdout)
    except (KeyError, ValueError) as exc:
        raise OsUpdateFailed(f"{target.id}: {SCRIPT} probe printed no readable answer: {exc}") from exc
