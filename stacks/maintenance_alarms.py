"""Per target: ``MaintenanceHostNotBack``, the alarm of a host that did not answer again after an OS update's
reboot or a scale's instance start (the os-update and scale workflows' record task emits the metric once, with the
host dimension only, when it records the outcome ``host-lost``; handlers/maintenance.py).

Sum over five minutes >= 1, missing data not breaching (no maintenance is no alarm); ALARM and OK go to the
notification topic, as the RPO and daily-check alarms do. The workflow's own notification says where it stopped;
the alarm is what pages, and stays visible on the target's dashboard until a person set it back (the host is
fixed, the lock released: docs/maintenance.md)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from freshtrack_ops.config import Target
from freshtrack_ops.handlers.maintenance import HOST_NOT_BACK_METRIC
from stacks.dashboards import figure_metric


class MaintenanceAlarms(Construct):
    """``MaintenanceHostNotBack`` per target (``host_not_back`` by id)."""

    def __init__(self, scope: Construct, construct_id: str, *, targets: Sequence[Target], topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.host_not_back: dict[str, cloudwatch.Alarm] = {}
        for target in targets:
            alarm = cloudwatch.Alarm(
                Construct(self, target.id),
                "MaintenanceHostNotBack",
                alarm_description=(
                    f"MaintenanceHostNotBack: {target.id} did not answer again after an OS update's reboot or an "
                    "instance restart; the workflow kept the host lock (see its notification)"
                ),
                metric=figure_metric(
                    target.id, HOST_NOT_BACK_METRIC, statistic=cloudwatch.Stats.SUM, period=Duration.minutes(5)
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.host_not_back[target.id] = alarm
