"""The daily check's host step: ``daily-collect`` (daily_check.sh), read-only, every transport."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.daily import host
from freshtrack_ops.daily.models import DailyFacts, DailyHostEvent
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.base import HostStep, NoContext, OnEventHost


class DailyCollectStep(OnEventHost, HostStep[DailyHostEvent, NoContext, DailyFacts]):
    """The manual's daily checks read on the host; judged by the report task, not here."""

    name = "daily-collect"
    scripts = ("daily_check.sh",)
    domain = "daily.host"
    model = DailyHostEvent
    context_model = NoContext

    def prepare(self, event: DailyHostEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return host.collect_command(target, event), NoContext()

    def finish(self, event: DailyHostEvent, target: Target, context: NoContext, result: CommandResult) -> DailyFacts:
        return host.read_facts(target, result)


#: the one instance of each step (steps/catalog.py finds them by name)
DAILY_COLLECT = DailyCollectStep()
