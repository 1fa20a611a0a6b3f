"""The remediation workflow's host steps: one action (``remediation-act``: remediate.sh) and the alert's condition
before and after it (``remediation-check``: remediation_check.sh), every transport through the base classes."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.remediation import host
from freshtrack_ops.remediation.models import ActionReport, ConditionReport, RemediationHostEvent
from freshtrack_ops.steps.base import HostStep, NoContext, OnEventHost


class RemediationActStep(OnEventHost, HostStep[RemediationHostEvent, NoContext, ActionReport]):
    """The action itself (never ``docker system prune --volumes``); a service the target does not have is
    refused before anything runs."""

    name = "remediation-act"
    scripts = ("remediate.sh",)
    domain = "remediation.host"
    model = RemediationHostEvent
    context_model = NoContext

    def prepare(
        self, event: RemediationHostEvent, target: Target, mode: Mode = "inline"
    ) -> tuple[HostCommand, NoContext]:
        return host.act_command(target, event), NoContext()

    def finish(
        self, event: RemediationHostEvent, target: Target, context: NoContext, result: CommandResult
    ) -> ActionReport:
        return host.read_action(target, event, result)


class RemediationCheckStep(OnEventHost, HostStep[RemediationHostEvent, NoContext, ConditionReport]):
    """The alert's condition read on the host and judged against the target's thresholds (``ok``: cleared)."""

    name = "remediation-check"
    scripts = ("remediation_check.sh",)
    domain = "remediation.host"
    model = RemediationHostEvent
    context_model = NoContext

    def prepare(
        self, event: RemediationHostEvent, target: Target, mode: Mode = "inline"
    ) -> tuple[HostCommand, NoContext]:
        return host.check_command(target, event), NoContext()

    def finish(
        self, event: RemediationHostEvent, target: Target, context: NoContext, result: CommandResult
    ) -> ConditionReport:
        return host.read_condition(target, event, result)


#: the one instance of each step (steps/catalog.py finds them by name)
REMEDIATION_ACT = RemediationActStep()
REMEDIATION_CHECK = RemediationCheckStep()
