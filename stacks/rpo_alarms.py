"""The RPO alarm per target (in the monitoring nested stack, stacks/monitoring_stack.py)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from freshtrack_ops.config import DeploymentConfig
from stacks.names import camel


class RpoAlarms(Construct):
    """Per target: alarm when the newest VERIFIED backup is older than ``rpo_alarm_hours`` (or the guard is silent)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for target in config.targets:
            alarm = cloudwatch.Alarm(
                self,
                f"{camel(target.id)}Alarm",
                alarm_description=(
                    f"Newest verified backup of {target.id} older than {config.rpo_alarm_hours} h "
                    "(or the RPO guard stopped reporting)"
                ),
                metric=cloudwatch.Metric(
                    namespace="FreshTrackOps",
                    metric_name="NewestVerifiedBackupAgeHours",
                    dimensions_map={"host": target.id, "service": "freshtrack-ops"},
                    statistic=cloudwatch.Stats.MAXIMUM,
                    period=Duration.hours(1),
                ),
                threshold=config.rpo_alarm_hours,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                # one late hourly run must not page anyone; a guard that stops reporting must
                evaluation_periods=2,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            )
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarm.add_ok_action(cw_actions.SnsAction(topic))
            self.alarms[target.id] = alarm
