"""The control plane: targets parameter, notifications, task functions, workflows and their schedules.

Functions and state machines are created by iterating the catalogs in ``freshtrack_ops.tasks``; nothing
here lists tasks by hand. The ASL files are inlined (``DefinitionBody.from_string``) so cfn-lint sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from freshtrack_ops.config import DeploymentConfig, Target
from freshtrack_ops.tasks import TASKS, WORKFLOWS, LambdaTask, Workflow
from stacks.function_factory import LOG_RETENTION, FunctionFactory, FunctionResources, TaskFunction
from stacks.nag import acknowledge
from stacks.ssm_documents import HostScriptDocuments
from stacks.storage_stack import StorageStack
from state_machines import asl_text, placeholders, substitutions

HOURLY_EXPRESSION = "cron(0 * * * ? *)"
STANDARD_PARAMETER_LIMIT = 4096
ADVANCED_PARAMETER_LIMIT = 8192


def camel(name: str) -> str:
    """``test-restore`` -> ``TestRestore`` (construct ids and output names)."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


@dataclass(frozen=True)
class ScheduledRun:
    """A workflow every target runs on a schedule: its expression (UTC) and execution input per target."""

    workflow: str
    construct_id: str
    expression: Callable[[Target], str]
    execution_input: Callable[[Target], dict[str, str]]


def backup_expression(target: Target) -> str:
    return HOURLY_EXPRESSION if target.backup.hourly else target.backup.schedule


SCHEDULED_RUNS: tuple[ScheduledRun, ...] = (
    # input: a BackupRequest
    ScheduledRun(
        "backup",
        "BackupSchedules",
        backup_expression,
        lambda t: {"host": t.id, "trigger": "schedule", "reason": "scheduled backup"},
    ),
    # input: a TestRestoreRequest (non-destructive: restores the newest backup into a scratch database)
    ScheduledRun(
        "test-restore",
        "TestRestoreSchedules",
        lambda t: t.restore.test_restore_schedule,
        lambda t: {"host": t.id, "backup_id": "latest"},
    ),
)


def invoked_tasks(workflow: str) -> set[str]:
    """The catalog tasks a workflow's ASL references (its role may invoke exactly these)."""
    used = placeholders(asl_text(workflow))
    return {name for name in TASKS if f"{name}FunctionArn" in used}


class TargetsParameter(Construct):
    """The targets (ARNs and public keys only, no secrets) as JSON in an SSM String parameter."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        value = config.target_set().model_dump_json()
        size = len(value.encode("utf-8"))
        if size > ADVANCED_PARAMETER_LIMIT:
            raise ValueError(
                f"targets: the targets JSON is {size} bytes, more than an SSM parameter holds "
                f"({ADVANCED_PARAMETER_LIMIT}); split the deployment"
            )
        self.parameter = ssm.StringParameter(
            self,
            "Parameter",
            parameter_name=f"/{config.name}/targets",
            description="FreshTrack Ops targets (TargetSet JSON; ARNs and public keys only)",
            string_value=value,
            tier=ssm.ParameterTier.STANDARD if size <= STANDARD_PARAMETER_LIMIT else ssm.ParameterTier.ADVANCED,
        )


class Notifications(Construct):
    """The SNS topic every workflow reports to, KMS-encrypted and TLS-only, with e-mail subscriptions."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, emails: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="FreshTrack Ops",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


class TaskFunctions(Construct):
    """One function per ``TASKS`` entry, all from one asset."""

    def __init__(self, scope: Construct, construct_id: str, *, factory_args: Mapping[str, Any]) -> None:
        super().__init__(scope, construct_id)
        factory = FunctionFactory(self, **factory_args)
        self.by_task: dict[str, TaskFunction] = {name: factory.create(task) for name, task in TASKS.items()}

    def functions(self) -> dict[str, lambda_.IFunction]:
        return {name: task_function.function for name, task_function in self.by_task.items()}


class WorkflowStateMachine(Construct):
    """One Standard state machine from its ASL file, with logging, tracing and explicit grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workflow: Workflow,
        functions: Mapping[str, lambda_.IFunction],
        notifications: Notifications,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        arns = {name: fn.function_arn for name, fn in functions.items()}
        all_values = substitutions(arns, notifications.topic.topic_arn)
        # only what this ASL uses: an unused ARN would still make the state machine depend on that function
        used = placeholders(asl_text(workflow.name))
        values = {key: value for key, value in all_values.items() if key in used}
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=workflow.description,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(asl_text(workflow.name)),
            definition_substitutions=values,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        self.invoked = invoked_tasks(workflow.name)
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeTasks",
                actions=["lambda:InvokeFunction"],
                resources=[functions[name].function_arn for name in sorted(self.invoked)],
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[notifications.topic.topic_arn])
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="NotifyEncrypted",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[notifications.key.key_arn],
            )
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "Added by CDK for Step Functions logging (logs:CreateLogDelivery, ...) and X-Ray tracing: these "
            "actions support no resource-level permissions. Task and topic statements name their resources.",
        )


class WorkflowSchedules(Construct):
    """One EventBridge Scheduler schedule per target, starting one workflow; expressions are evaluated in UTC."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        run: ScheduledRun,
        targets: tuple[Target, ...],
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.Schedule] = {}
        for target in targets:
            self.schedules[target.id] = scheduler.Schedule(
                self,
                camel(target.id),
                description=f"Scheduled {run.workflow} of {target.id}",
                schedule=scheduler.ScheduleExpression.expression(run.expression(target), TimeZone.ETC_UTC),
                target=scheduler_targets.StepFunctionsStartExecution(
                    state_machine,
                    input=scheduler.ScheduleTargetInput.from_object(run.execution_input(target)),
                    # a run that could not start within the hour waits for its next slot instead
                    max_event_age=Duration.hours(1),
                    retry_attempts=5,
                ),
            )


class TaskSchedule(Construct):
    """A task invoked directly on a schedule (retention tags daily, the RPO guard hourly), in UTC."""

    def __init__(self, scope: Construct, construct_id: str, *, task: LambdaTask, function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        assert task.schedule is not None
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=task.description[:512],
            schedule=scheduler.ScheduleExpression.expression(task.schedule, TimeZone.ETC_UTC),
            target=scheduler_targets.LambdaInvoke(function, input=scheduler.ScheduleTargetInput.from_object({})),
        )
        stack = Stack.of(self)
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        logical_id = stack.resolve(stack.get_logical_id(cfn_function))
        # the scheduler's shared role is created at stack level, so the finding is acknowledged there
        acknowledge(
            stack,
            f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
            f"CDK's grantInvoke adds '<function ARN>:*' so the scheduler may invoke versions and aliases of "
            f"{task.name}; the grant names that one function only.",
        )


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


class LockJanitorRule(Construct):
    """Executions that are aborted or time out skip their own unlock: EventBridge hands them to the janitor."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        state_machines: Mapping[str, sfn.StateMachine],
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Release the host lock of aborted or timed-out FreshTrack Ops executions",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["ABORTED", "TIMED_OUT"],
                    "stateMachineArn": [m.state_machine_arn for m in state_machines.values()],
                },
            ),
            targets=[events_targets.LambdaFunction(function, retry_attempts=3)],
        )


class ControlPlaneStack(Stack):
    """Everything that runs: functions, state machines, schedules, notifications."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        storage: StorageStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # the storage stack is referenced through named exports only (Fn::ImportValue): order them explicitly
        self.add_stack_dependency(storage)
        refs = storage.refs
        targets = TargetsParameter(self, "Targets", config=config)
        # document names already start with "FreshTrackOps-"; other deployment names prefix them
        document_prefix = "" if config.name == "FreshTrackOps" else f"{config.name}-"
        self.host_documents = HostScriptDocuments(self, "HostScriptDocuments", prefix=document_prefix)
        data_key = kms.Key.from_key_arn(self, "DataKey", refs.key_arn)
        notifications = Notifications(self, "Notifications", key=data_key, emails=config.notification_emails)
        resources = FunctionResources(
            storage=refs,
            targets_parameter_arn=targets.parameter.parameter_arn,
            topic_arn=notifications.topic.topic_arn,
            ssh_key_secret_arns=tuple(
                sorted({t.private_key_secret_arn for t in config.targets if t.private_key_secret_arn})
            ),
        )
        environment = {
            "BACKUP_BUCKET": refs.bucket_name,
            "OPS_TABLE": refs.table_name,
            "TARGETS_PARAMETER": targets.parameter.parameter_name,
            "NOTIFICATION_TOPIC_ARN": notifications.topic.topic_arn,
            "KEEP_LAST_VERIFIED": str(config.keep_last_verified),
            "KEEP_WEEKLY": str(config.keep_weekly),
            "KEEP_MONTHLY": str(config.keep_monthly),
        }
        self.functions = TaskFunctions(
            self, "Tasks", factory_args={"environment": environment, "resources": resources}
        ).functions()

        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name, workflow in WORKFLOWS.items():
            machine = WorkflowStateMachine(
                self,
                f"{camel(name)}Workflow",
                workflow=workflow,
                functions=self.functions,
                notifications=notifications,
            ).state_machine
            self.state_machines[name] = machine
            CfnOutput(
                self,
                f"{camel(name)}StateMachineArn",
                value=machine.state_machine_arn,
                description=workflow.description,
            )

        if "test-restore" in self.state_machines:
            test_restore = self.state_machines["test-restore"]
            for name, task in TASKS.items():
                if "start-test-restore" in task.grants:
                    function = self.functions[name]
                    test_restore.grant_start_execution(function)
                    if isinstance(function, lambda_.Function):
                        function.add_environment("TEST_RESTORE_STATE_MACHINE_ARN", test_restore.state_machine_arn)

        self.schedules: dict[str, dict[str, scheduler.Schedule]] = {}
        for run in SCHEDULED_RUNS:
            if run.workflow in self.state_machines:  # workflows arrive in the catalog one issue at a time
                self.schedules[run.workflow] = WorkflowSchedules(
                    self,
                    run.construct_id,
                    run=run,
                    targets=config.targets,
                    state_machine=self.state_machines[run.workflow],
                ).schedules

        for name, task in TASKS.items():
            if task.schedule:
                TaskSchedule(self, f"{name}Schedule", task=task, function=self.functions[name])
        RpoAlarms(self, "RpoAlarms", config=config, topic=notifications.topic)
        LockJanitorRule(
            self, "LockJanitor", function=self.functions["LockJanitor"], state_machines=self.state_machines
        )

        CfnOutput(self, "NotificationTopicArn", value=notifications.topic.topic_arn)
        CfnOutput(self, "TargetsParameterName", value=targets.parameter.parameter_name)
