"""The service workflow's host step: one operation (``service-act``: service.sh), every transport through the
base classes. A logs action's lines are redacted and saved to S3 in ``finish``, where both transports end (the
SSH task itself; HostCommandDone over SSM): neither the lines nor their secrets travel in the task's output."""

from __future__ import annotations

from freshtrack_ops import runtime
from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.service import host
from freshtrack_ops.service.models import ServiceHostEvent, ServiceReport
from freshtrack_ops.steps.base import HostStep, NoContext, OnEventHost


class ServiceActStep(OnEventHost, HostStep[ServiceHostEvent, NoContext, ServiceReport]):
    """A service the target does not have, or an address that is not one, is refused before anything runs."""

    name = "service-act"
    scripts = ("service.sh",)
    domain = "service.host"
    model = ServiceHostEvent
    context_model = NoContext

    def prepare(self, event: ServiceHostEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.act_command(target, event), NoContext()

    def finish(
        self, event: ServiceHostEvent, target: Target, context: NoContext, result: CommandResult
    ) -> ServiceReport:
        output = host.read_output(target, event, result)
        if event.log_key is not None and output.logs is not None:
            runtime.store().put_text(event.log_key, host.redacted_log(output.logs))
        return host.report(event, output)


#: the one instance of each step (steps/catalog.py finds them by name)
SERVICE_ACT = ServiceActStep()
