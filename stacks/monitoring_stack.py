"""The dashboards and the daily-check alarms, in a nested stack of the control plane.

Why nested: each target's dashboard body is ~18 KB of template (its metrics, and a ``Fn::Join`` around every ARN
and region it names). In the control plane's own template, 20 targets took that template from 752 KB to 1.25 MB,
over CloudFormation's 1 MB for a template in S3. A nested stack is a template of its own (own 1 MB, own 500
resources); CDK passes it what it references from the control plane (state machine, alarm and topic ARNs) as
parameters, so it costs the control plane's template one resource.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import NestedStack
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from freshtrack_ops.config import DeploymentConfig
from stacks.daily_check_alarms import DailyCheckAlarms
from stacks.dashboards import Dashboards
from stacks.maintenance_alarms import MaintenanceAlarms
from stacks.rpo_alarms import RpoAlarms


class MonitoringStack(NestedStack):
    """Per target a dashboard and the MaintenanceHostNotBack alarm, per target with ``daily_check.enabled`` the
    DailyCheck alarms; and the overview."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        bucket_name: str,
        state_machines: Mapping[str, sfn.IStateMachine],
        topic: sns.ITopic,
        daily_check: bool,
    ) -> None:
        """``daily_check``: whether the daily-check workflow exists (without it no report arrives, and
        DailyCheckMissing would only ever say so)."""
        super().__init__(
            scope,
            construct_id,
            description="FreshTrack Ops: dashboards per target, the daily-check and maintenance alarms",
            # the bodies are long JSON strings: indenting the template around them only adds bytes
            suppress_template_indentation=True,
        )
        self.daily_check_alarms = (
            DailyCheckAlarms(self, "DailyCheckAlarms", targets=config.targets, topic=topic) if daily_check else None
        )
        alarms = self.daily_check_alarms
        self.rpo_alarms = RpoAlarms(self, "RpoAlarms", config=config, topic=topic)
        rpo_alarms = self.rpo_alarms.alarms
        self.maintenance_alarms = MaintenanceAlarms(self, "MaintenanceAlarms", targets=config.targets, topic=topic)
        host_not_back = self.maintenance_alarms.host_not_back
        self.dashboards = Dashboards(
            self,
            "Dashboards",
            deployment=config.name,
            targets=config.targets,
            bucket_name=bucket_name,
            state_machines=state_machines,
            alarms_by_target={
                t.id: [
                    *(alarms.of(t.id) if alarms else ()),
                    *([rpo_alarms[t.id]] if t.id in rpo_alarms else []),
                    host_not_back[t.id],
                ]
                for t in config.targets
            },
        )
