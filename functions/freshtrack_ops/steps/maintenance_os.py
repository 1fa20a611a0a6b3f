"""The os-update workflow's host steps (os_update.sh), every transport through the base classes:

* ``os-upgrade``: apt-get update + upgrade; over SSM with ``reboot="ssm"`` the agent reboots (exit 194) and the
  command's result, after the run that follows the boot, says ``rebooted``;
* ``os-reboot`` (SSH): the host reboots a few seconds after the command returns; the result is the boot id before;
* ``host-probe``: the boot id, the uptime, the reboot-required flag. A host that does not answer is
  ``HostUnreachable`` (the workflow's wait loop catches that name and probes again): over SSH a refused or
  timed-out connection already is (adapters/ssh.py, within the target's ``connect_timeout_s``), and a session that
  drops or hangs while the host goes down is named so here too; over SSM an agent that is not Online is
  (adapters/ssm.py ``check_online``).
"""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandTimeout, HostConnectionLost, HostUnreachable
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.maintenance import os_host
from freshtrack_ops.maintenance.os_models import (
    HostEvent,
    HostProbe,
    OsUpgradeEvent,
    OsUpgradeReport,
    ProbeEvent,
    RebootScheduled,
)
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.steps.base import HostStep, NoContext, OnEventHost, Recorder, RunnerTarget


class OsUpgradeStep(OnEventHost, HostStep[OsUpgradeEvent, NoContext, OsUpgradeReport]):
    """Refused for a local target (it would upgrade the machine running the plane) and for ``reboot="ssm"`` on a
    target that is not an SSM one."""

    name = "os-upgrade"
    scripts = ("os_update.sh",)
    domain = "maintenance.os_host"
    model = OsUpgradeEvent
    context_model = NoContext

    def prepare(self, event: OsUpgradeEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        reboot = os_host.reboot_mode_for(target) if event.reboot == "if-required" else "none"
        return os_host.upgrade_command(target, event.run_id, reboot), NoContext()

    def finish(
        self, event: OsUpgradeEvent, target: Target, context: NoContext, result: CommandResult
    ) -> OsUpgradeReport:
        return os_host.read_upgrade(target, result)


class OsRebootStep(OnEventHost, HostStep[HostEvent, NoContext, RebootScheduled]):
    name = "os-reboot"
    scripts = ("os_update.sh",)
    domain = "maintenance.os_host"
    model = HostEvent
    context_model = NoContext

    def prepare(self, event: HostEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return os_host.reboot_command(target), NoContext()

    def finish(self, event: HostEvent, target: Target, context: NoContext, result: CommandResult) -> RebootScheduled:
        return os_host.read_reboot(target, result)


class HostProbeStep(OnEventHost, HostStep[ProbeEvent, NoContext, HostProbe]):
    name = "host-probe"
    scripts = ("os_update.sh",)
    domain = "maintenance.os_host"
    model = ProbeEvent
    context_model = NoContext

    def prepare(self, event: ProbeEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return os_host.probe_command(target), NoContext()

    def finish(self, event: ProbeEvent, target: Target, context: NoContext, result: CommandResult) -> HostProbe:
        probe = os_host.read_probe(target, result)
        rebooted = event.boot_id_before is not None and probe.boot_id != event.boot_id_before
        return probe.model_copy(update={"rebooted": rebooted})

    def run(
        self,
        event: ProbeEvent,
        target: RunnerTarget,
        runner: HostRunner,
        mode: Mode = "inline",
        record: Recorder | None = None,
    ) -> HostProbe:
        """A host going down can accept the connection and then drop or stall the session: still "not answering"."""
        try:
            return super().run(event, target, runner, mode, record)
        except (HostConnectionLost, HostCommandTimeout) as exc:
            raise HostUnreachable(f"{target.id}: does not answer yet: {exc}") from exc


#: the one instance of each step (steps/catalog.py finds them by name)
OS_UPGRADE = OsUpgradeStep()
OS_REBOOT = OsRebootStep()
HOST_PROBE = HostProbeStep()
