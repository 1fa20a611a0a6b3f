"""The OS update's host side as models: what the host steps take (events) and what they return (os_update.sh's
reports, parsed by ``maintenance/os_host.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.fields import HostRef, Strict

#: ``/proc/sys/kernel/random/boot_id``: a random UUID, new at every boot
BOOT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: a Debian package name (Debian Policy 5.6.1: lowercase letters, digits, ``+ - .``, at least two characters; with
#: ``:<arch>`` for a foreign-architecture package, as apt prints it)
PACKAGE_PATTERN = r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$"
#: a Debian version (Policy 5.6.12: ``[epoch:]upstream[-revision]``, letters, digits, ``. + ~ - :``)
VERSION_PATTERN = r"^[0-9][A-Za-z0-9.+~:-]{0,126}$"
#: the id of one OS update on the host (the name of the report it keeps across an SSM reboot): the control plane
#: derives it from the execution, so a retried task finds the report of the same update
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"
BootId = Annotated[str, StringConstraints(pattern=BOOT_ID_PATTERN)]
PackageName = Annotated[str, StringConstraints(pattern=PACKAGE_PATTERN)]
PackageVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
#: ``ssm``: a required reboot is the SSM Agent's (exit 194; the same command's result then says rebooted); ``none``:
#: the report says whether a reboot is required, and the workflow reboots with ``os-reboot`` (SSH)
RebootMode = Literal["none", "ssm"]


class OsUpgradeEvent(Strict):
    """What the os-upgrade host step takes. ``reboot``: the request's choice; the step turns ``if-required`` into
    the SSM Agent's reboot on an SSM target (``reboot_mode_for``), the workflow reboots an SSH target itself."""

    host: HostRef
    run_id: RunId
    reboot: Literal["if-required", "never"] = "if-required"


class HostEvent(Strict):
    """What the os-reboot step takes."""

    host: HostRef


class ProbeEvent(Strict):
    """What the host-probe step takes: after a reboot, the boot id before it (the answer says whether it changed)."""

    host: HostRef
    boot_id_before: BootId | None = None


class PackageUpgrade(Strict):
    name: PackageName
    #: the version installed before; None: the upgrade installed the package (a new kernel's, ``--with-new-pkgs``)
    from_version: PackageVersion | None
    to_version: PackageVersion


class OsUpgradeReport(Strict):
    """What ``apt-get upgrade`` did: the packages it upgraded, whether the host must reboot (and for which packages),
    the boot id the host runs now, whether it rebooted (SSM: the agent's reboot happened before this report)."""

    upgraded: list[PackageUpgrade]
    reboot_required: bool
    reboot_packages: list[PackageName]
    boot_id: BootId
    rebooted: bool
    #: seconds the update waited for another apt/dpkg run's lock
    lock_waited_s: int = Field(ge=0)
    #: rebooted: the boot id before the reboot
    previous_boot_id: BootId | None = None


class RebootScheduled(Strict):
    """The os-reboot step's result: the host reboots in a few seconds; ``boot_id`` is the one before (a probe that
    reads another has seen the new boot)."""

    boot_id: BootId


class HostProbe(Strict):
    """The host answers: its boot, how long it has been up, whether it still wants a reboot, its size (what a scale
    reports after) and, asked with ``boot_id_before``, whether it rebooted since."""

    boot_id: BootId
    uptime_s: int = Field(ge=0)
    reboot_required: bool
    cpus: int | None = Field(default=None, ge=1)
    memory_mb: int | None = Field(default=None, ge=0)
    disk_gb: int | None = Field(default=None, ge=0)
    rebooted: bool = False
