"""The control plane: targets parameter, notifications, task functions, workflows and their schedules.

Functions and state machines are created by iterating the catalogs in ``freshtrack_ops.tasks``; nothing
here lists tasks by hand.

The ASL files are S3 assets (``DefinitionBody.from_file``: ``DefinitionS3Location`` + ``DefinitionSubstitutions``),
not inlined: inlined, the definitions were ~330 KB of the template (escaped JSON), and with the remediation
workflow the template reached ~970 KB with a VPC, against CloudFormation's 1 MB limit for a template in S3.
cfn-lint no longer sees the states; tests/asl checks them statically and runs them in the local plane, and
tests/infra checks that each asset is the ASL file and every placeholder is bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_cdk import ArnFormat, Aws, CfnOutput, Duration, Fn, Stack, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from freshtrack_ops.adapters.host_exchange import HOST_TAG
from freshtrack_ops.adapters.ssm import FINAL_INVOCATION_STATUSES
from freshtrack_ops.config import LAUNCH_TEMPLATE_ID_PATTERN, DeploymentConfig, SsmTarget, Target
from freshtrack_ops.host_scripts.parameters import HOST_EXCHANGE_PREFIX
from freshtrack_ops.tasks import TASKS, WORKFLOWS, LambdaTask, Workflow
from stacks.chat import ChatSecret, ChatSubscription
from stacks.dr_grants import AwsLocation, dr_resources, ssh_key_secret_arns, standby_instance_ids
from stacks.function_factory import (
    LOG_RETENTION,
    POWERTOOLS_ENV,
    FunctionFactory,
    FunctionResources,
    TaskFunction,
    callback_state_machine_arns,
    grant_task_callbacks,
    scale_instance_ids,
    start_remediation_statement,
    start_test_restore_statement,
)
from stacks.monitoring_stack import MonitoringStack
from stacks.nag import acknowledge, suppress_lint
from stacks.names import camel
from stacks.scheduled_runs import DAILY_CHECK_WORKFLOW, SCHEDULED_RUNS, ScheduledRun
from stacks.ssm_documents import HostDocumentsStack, instance_arn
from stacks.storage_stack import SSM_OUTPUT_PREFIX, StorageRefs, StorageStack
from stacks.webhook import RemediationAlarms, WebhookApi, WebhookSecrets
from stacks.webhook_names import webhook_secret_name
from state_machines import asl_path, asl_text, invoked_tasks, placeholders, started_workflows, substitutions

#: the drop-asides workflow, for every target at once: hourly, away from the top of the hour the backups take
DROP_ASIDES_EXPRESSION = "cron(40 * * * ? *)"
#: where the functions' Powertools Metrics go (their environment), and the ``service`` dimension it adds
POWERTOOLS_METRICS_NAMESPACE = POWERTOOLS_ENV["POWERTOOLS_METRICS_NAMESPACE"]
POWERTOOLS_SERVICE = POWERTOOLS_ENV["POWERTOOLS_SERVICE_NAME"]
#: the task EventBridge hands each final SSM command status to (it completes the waiting workflow task)
COMMAND_DONE_TASK = "HostCommandDone"
#: final statuses and status details of a command invocation (the rule takes both: no final one is missed)
FINAL_COMMAND_STATUSES = FINAL_INVOCATION_STATUSES
#: a completion event is retried this often (EventBridge, then Lambda's async retries) within COMMAND_EVENT_MAX_AGE
COMMAND_EVENT_RETRIES = 2
COMMAND_EVENT_MAX_AGE = Duration.hours(1)
#: the task behind the alert webhook's HTTP API (stacks/webhook.py)
WEBHOOK_TASK = "AlertWebhook"
#: the task subscribed to the notification topic when chat notifications are enabled (stacks/chat.py)
CHAT_TASK = "ChatNotify"
#: the task EventBridge hands aborted / timed-out executions to (cancels their commands, releases their lock)
JANITOR_TASK = "LockJanitor"
#: its steps are safe to repeat (cancel, undo what the undo log still lists, conditional release) and useful while
#: a lease (up to 24 h) may still be held: retried by EventBridge, then by Lambda's asynchronous retries, for up to
#: 6 hours (Lambda's maximum event age); a retry after its notification went out notifies again
JANITOR_EVENT_RETRIES = 2
JANITOR_EVENT_MAX_AGE = Duration.hours(6)
#: how long a dead letter is kept for diagnosis
DEAD_LETTER_RETENTION = Duration.days(14)
#: Step Functions log groups belong here: for a group outside /aws/vendedlogs/, enabling logging adds that group
#: to the account's CloudWatch Logs resource policy, whose 5,120 characters fill up after a few state machines
#: (then logging can no longer be enabled); one entry on /aws/vendedlogs/* covers every group below it
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"
STANDARD_PARAMETER_LIMIT = 4096
ADVANCED_PARAMETER_LIMIT = 8192


class TargetsParameter(Construct):
    """The targets (ARNs and public keys only, no secrets) as JSON in an SSM String parameter.

    Tier: Intelligent-Tiering, always. The AWS Systems Manager user guide ("Managing parameter tiers"): "You can
    change a standard parameter to an advanced parameter at any time, but you can't revert an advanced parameter
    to a standard parameter" (an update that asks for it fails, and so would the stack update). Choosing the tier
    from the value's size asked exactly that once a deployment went back under 4 KB. Standard alone caps the
    targets at 4 KB; Advanced alone costs a monthly charge for a parameter that mostly fits Standard. With
    Intelligent-Tiering "Parameter Store evaluates each request": a value under 4 KB is stored as Standard, a
    larger one upgrades the parameter to Advanced ("Intelligent-Tiering handles the conversion for you"), and it
    only ever upgrades, so no update asks for a downgrade. A parameter that once went Advanced stays Advanced
    (and charged) until deleted and recreated, which is what AWS allows.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        value = config.target_set().parameter_json()
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
            tier=ssm.ParameterTier.INTELLIGENT_TIERING,
        )


class DeadLetters(Construct):
    """A dead-letter queue (SSE-SQS, TLS only, kept 14 days) whose first message alarms the notification topic.

    ``sources`` says what delivers to it: the queue is a dead-letter queue of EventBridge targets, of Lambda's
    asynchronous invocations or of SNS subscriptions, none of which cdk-nag or cfn-lint recognise as one.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, sources: str, alarm_description: str, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            f"This queue is itself the dead-letter queue of {sources} (cdk-nag only recognises SQS/Lambda DLQ "
            "configs).",
        )
        cfn_queue = self.queue.node.default_child
        assert isinstance(cfn_queue, sqs.CfnQueue)
        suppress_lint(
            cfn_queue,
            "ES6000",
            f"This queue is itself the dead-letter queue of {sources}; a redrive policy would only move its "
            "messages to yet another queue (ES6000 exempts only queues named in an SQS RedrivePolicy).",
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description=alarm_description,
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cw_actions.SnsAction(topic))


def suppress_async_permission_lint(rule: events.Rule, task: str) -> None:
    """ES1007 on the Lambda permission EventBridge invokes the task's function with (asynchronously).

    The function HAS an ``AWS::Lambda::EventInvokeConfig`` with an on-failure destination (``configure_async_invoke``
    next to every call of this; tests/infra checks it). ES1007 pairs the two by comparing their FunctionName
    values as written: the permission names the function by ARN (``Fn::GetAtt``), the config by ``Ref``.
    """
    for child in rule.node.find_all():
        if isinstance(child, lambda_.CfnPermission):
            suppress_lint(
                child,
                "ES1007",
                f"{task} has an AWS::Lambda::EventInvokeConfig with an OnFailure destination (its dead-letter "
                "queue); ES1007 compares FunctionName as written, and this permission names the function by "
                "Fn::GetAtt Arn while the config names it by Ref.",
            )


class Notifications(Construct):
    """The SNS topic every workflow reports to, KMS-encrypted and TLS-only, with e-mail subscriptions.

    Each subscription has a dead-letter queue: a notification SNS could not deliver is kept (14 days) instead of
    dropped, and alarms the topic (which still reaches any other subscriber, and shows in CloudWatch).
    """

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
        self.dead_letters: DeadLetters | None = None
        if emails:
            self.dead_letters = DeadLetters(
                self,
                "DeadLetters",
                sources="the topic's e-mail subscriptions (SNS RedrivePolicy)",
                alarm_description="FreshTrack Ops notifications SNS could not deliver (notification dead-letter queue)",
                topic=self.topic,
            )
        for email in emails:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(
                    email, dead_letter_queue=self.dead_letters.queue if self.dead_letters else None
                )
            )


class TaskFunctions(Construct):
    """One function per ``TASKS`` entry, all from one asset."""

    def __init__(self, scope: Construct, construct_id: str, *, factory_args: Mapping[str, Any]) -> None:
        super().__init__(scope, construct_id)
        factory = FunctionFactory(self, **factory_args)
        self.by_task: dict[str, TaskFunction] = {name: factory.create(task) for name, task in TASKS.items()}

    def functions(self) -> dict[str, lambda_.IFunction]:
        return {name: task_function.function for name, task_function in self.by_task.items()}


#: the managed EventBridge rule through which Step Functions follows executions it started with .sync
SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


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
        deployment: str,
        log_key: kms.IKey,
        started: Mapping[str, sfn.IStateMachine] | None = None,
    ) -> None:
        """``started``: the workflows this one starts (``.sync:2``), already created; ``log_key``: the data key, which
        encrypts the log group (its key policy lets CloudWatch Logs use it, stacks/storage_stack.py DataKey)."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=vended_log_group_name(self, deployment, workflow.name),
            retention=LOG_RETENTION,
            encryption_key=log_key,
        )
        arns = {name: fn.function_arn for name, fn in functions.items()}
        started = dict(started or {})
        all_values = substitutions(
            arns, notifications.topic.topic_arn, {name: machine.state_machine_arn for name, machine in started.items()}
        )
        # only what this ASL uses: an unused ARN would still make the state machine depend on that function
        used = placeholders(asl_text(workflow.name))
        values = {key: value for key, value in all_values.items() if key in used}
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=workflow.description,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(asl_path(workflow.name))),
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
        if started:
            self._allow_start_sync(started)
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

    def _allow_start_sync(self, started: Mapping[str, sfn.IStateMachine]) -> None:
        """What ``states:startExecution.sync:2`` needs (Step Functions developer guide, "IAM policies for
        starting Step Functions executions"): start the child, describe and stop its executions, and manage the
        managed EventBridge rule through which Step Functions learns that the child ended."""
        stack = Stack.of(self)
        machines = [machine.state_machine_arn for machine in started.values()]
        executions = [
            stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{stack.split_arn(arn, ArnFormat.COLON_RESOURCE_NAME).resource_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for arn in machines
        ]
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(sid="StartWorkflows", actions=["states:StartExecution"], resources=machines)
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="FollowWorkflows",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=executions,
            )
        )
        for machine in started.values():
            cfn_machine = machine.node.default_child
            assert isinstance(cfn_machine, sfn.CfnStateMachine)
            logical_id = stack.resolve(stack.get_logical_id(cfn_machine))
            name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id}"}}]}}]}}'
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"{name}:*]",
                "Executions of one started workflow (its ARN's name, then ':*'): an execution's ARN is only known "
                "once it runs, so describing and stopping the child needs the wildcard on that machine's executions.",
            )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="SyncRule",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForStepFunctionsExecutionRule",
                    )
                ],
            )
        )


def vended_log_group_name(scope: Construct, deployment: str, workflow: str) -> str:
    """``/aws/vendedlogs/states/<deployment>-<workflow>-<first block of the stack's id>``.

    Log groups are retained when the stack is deleted (execution history outlives it); a fixed name would make
    the next stack of the same name fail on the group left behind, so the name ends with the first block of the
    stack id's UUID, new for every stack created.
    """
    stack_uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
    return f"{VENDED_LOGS_PREFIX}{deployment}-{workflow}-{Fn.select(0, Fn.split('-', stack_uuid))}"


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
            expression = run.expression(target)
            if expression is None:
                continue
            window = run.time_window_minutes(target)
            self.schedules[target.id] = scheduler.Schedule(
                self,
                camel(target.id),
                description=f"Scheduled {run.workflow} of {target.id}",
                schedule=scheduler.ScheduleExpression.expression(expression, TimeZone.ETC_UTC),
                time_window=(
                    scheduler.TimeWindow.flexible(Duration.minutes(window))
                    if window is not None
                    else scheduler.TimeWindow.off()
                ),
                target=scheduler_targets.StepFunctionsStartExecution(
                    state_machine,
                    input=scheduler.ScheduleTargetInput.from_object(run.execution_input(target)),
                    # a run that could not start within the hour waits for its next slot instead
                    max_event_age=Duration.hours(1),
                    retry_attempts=5,
                ),
            )


class FleetWorkflowSchedule(Construct):
    """One schedule starting one workflow for every target at once (its input names none), in UTC."""

    def __init__(
        self, scope: Construct, construct_id: str, *, workflow: str, expression: str, state_machine: sfn.IStateMachine
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"Scheduled {workflow} of every target",
            schedule=scheduler.ScheduleExpression.expression(expression, TimeZone.ETC_UTC),
            target=scheduler_targets.StepFunctionsStartExecution(
                state_machine,
                input=scheduler.ScheduleTargetInput.from_object({}),
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


def launch_template_id(target: Target, configured: str) -> str:
    """The id of a configured ``dr.launch_template``; a name is refused at synth.

    IAM names a launch template by id only: the resource is ``launch-template/<id>`` and RunInstances' condition
    key ``ec2:LaunchTemplate`` is that ARN (Service Authorization Reference, Amazon EC2), and synth asks AWS
    nothing, so a name cannot become the id here. Resolving it at deploy time (a custom resource) would grant
    whatever template has the name at that moment and keep that id after the template is re-created under the
    same name. The workflow itself accepts either (the local plane uses names).
    """
    if re.fullmatch(LAUNCH_TEMPLATE_ID_PATTERN, configured):
        return configured
    raise ValueError(
        f"targets.{target.id}.dr.launch_template: {configured!r} is a name; a deployment needs the template's id "
        "(lt- and 17 hex digits, from `aws ec2 describe-launch-templates --launch-template-names "
        f"{configured}`): IAM can limit RunInstances to a launch template by its id only"
    )


#: the metric the disaster-recovery workflow emits once per failed drill (EMF, Count), per host
DRILL_FAILED_METRIC = "DrDrillsFailed"


class DrAlarms(Construct):
    """A failed drill alarms per target (``DrDrillsFailed``); any failed disaster-recovery execution alarms too.

    The workflow emits ``DrDrillsFailed`` (Count) through Powertools Metrics in the functions' namespace with the
    dimensions ``host`` and ``service`` (Powertools adds ``service`` to every metric, as for the RPO guard's). Both
    notify the topic. Drills are monthly: no data is the normal state, not a breach. An execution that times out or
    is aborted runs no Catch and fails nothing here: the lock janitor notifies those.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        state_machine: sfn.StateMachine,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.drill_alarms: dict[str, cloudwatch.Alarm] = {}
        for target in config.targets:
            if target.dr is None:
                continue
            alarm = cloudwatch.Alarm(
                self,
                f"{camel(target.id)}DrillFailed",
                alarm_description=f"A disaster-recovery drill of {target.id} failed (the recovery may not work)",
                metric=cloudwatch.Metric(
                    namespace=POWERTOOLS_METRICS_NAMESPACE,
                    metric_name=DRILL_FAILED_METRIC,
                    dimensions_map={"host": target.id, "service": POWERTOOLS_SERVICE},
                    statistic=cloudwatch.Stats.SUM,
                    period=Duration.minutes(5),
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.drill_alarms[target.id] = alarm
        self.executions_failed = cloudwatch.Alarm(
            self,
            "ExecutionsFailed",
            alarm_description="A disaster-recovery execution (drill or recovery) failed",
            metric=state_machine.metric_failed(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.executions_failed.add_alarm_action(action)


class LockJanitorRule(Construct):
    """Executions that are aborted or time out skip their own unlock: EventBridge hands them to the janitor.

    Like the completion rule: events EventBridge cannot deliver, and invocations still failing after Lambda's
    asynchronous retries, land in a dead-letter queue that alarms the topic; a lock it did not release then
    stays held until its lease ends (docs/runbooks.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        state_machines: Mapping[str, sfn.StateMachine],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetters(
            self,
            "DeadLetters",
            sources="the janitor rule's Lambda target and the janitor's asynchronous invocations",
            alarm_description=(
                "Aborted or timed-out executions the lock janitor could not handle: their host lock may stay held "
                "until its lease ends (FreshTrack Ops dead-letter queue)"
            ),
            topic=topic,
        )
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
            targets=[
                events_targets.LambdaFunction(
                    function,
                    retry_attempts=JANITOR_EVENT_RETRIES,
                    max_event_age=JANITOR_EVENT_MAX_AGE,
                    dead_letter_queue=self.dead_letters.queue,
                )
            ],
        )
        function.configure_async_invoke(
            retry_attempts=JANITOR_EVENT_RETRIES,
            max_event_age=JANITOR_EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(self.dead_letters.queue),
        )
        suppress_async_permission_lint(self.rule, JANITOR_TASK)


class SsmCommandCompletionRule(Construct):
    """Each final status of a host script command reaches ``HostCommandDone``, which completes the waiting task.

    Events EventBridge cannot deliver, and invocations still failing after Lambda's retries (the handler
    raises while the command's pending record is not visible yet), land in one dead-letter queue, which
    alarms the notification topic. A lost completion is not lost work: the waiting state's timeout catches it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        document_name_prefix: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        dead_letters = DeadLetters(
            self,
            "DeadLetters",
            sources="the completion rule's Lambda target and the completion function's asynchronous invocations",
            alarm_description="SSM command completions that reached no workflow (FreshTrack Ops dead-letter queue)",
            topic=topic,
        )
        self.dead_letters = dead_letters.queue
        self.alarm = dead_letters.alarm
        self.rule = events.Rule(
            self,
            "Rule",
            description="Hand the final status of FreshTrack Ops host commands to HostCommandDone",
            event_pattern=events.EventPattern(
                source=["aws.ssm"],
                detail_type=["EC2 Command Invocation Status-change Notification"],
                detail={
                    "status": list(FINAL_COMMAND_STATUSES),
                    "document-name": events.Match.prefix(document_name_prefix),
                },
            ),
            targets=[
                events_targets.LambdaFunction(
                    function,
                    retry_attempts=COMMAND_EVENT_RETRIES,
                    max_event_age=COMMAND_EVENT_MAX_AGE,
                    dead_letter_queue=self.dead_letters,
                )
            ],
        )
        function.configure_async_invoke(
            retry_attempts=COMMAND_EVENT_RETRIES,
            max_event_age=COMMAND_EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(self.dead_letters),
        )
        suppress_async_permission_lint(self.rule, COMMAND_DONE_TASK)


class SsmHostPolicy(Construct):
    """What the instance role (EC2) or hybrid activation role of an SSM target needs beyond SSM's own policy.

    Operators attach it (output ``SsmHostPolicyArn``): the agent writes each command's complete output to
    ``ssm-output/`` in the SSE-KMS backup bucket, and fetches the host exchange objects that carry its commands'
    presigned URLs (``ssm-exchange/hosts/``, ``adapters/host_exchange.py``): only those tagged
    ``freshtrack-ops:host`` = its own ARN, the ``ec2:SourceInstanceARN`` of an EC2 instance's role credentials or
    the ``ssm:SourceInstanceARN`` of a hybrid node's (used as policy variables, as the Systems Manager user guide's
    PutComplianceItems example does). A role shared by several hosts still reads only each host's own objects.
    Nothing else: the backups themselves move through those presigned URLs.

    What the agent does there (amazon-ssm-agent ``agent/s3util/s3util.go``, ``S3Upload``): it first calls
    GetBucketEncryption on the bucket (IAM ``s3:GetEncryptionConfiguration``, a bucket action) to upload with the
    bucket's SSE-KMS key, then uploads (PutObject, or a multipart upload above 5 MiB) with the canned ACL
    ``bucket-owner-full-control``. A request that carries an ACL is also authorized as ``s3:PutObjectAcl``: without
    it the upload is denied and only the API's first 24,000 characters of stdout remain, which loses the final
    lines the steps parse. The AWS Systems Manager user guide ("Create a custom policy for S3 bucket access")
    lists the same four actions: s3:PutObject and s3:PutObjectAcl on the objects, s3:GetEncryptionConfiguration
    on the bucket itself (for an encrypted bucket), and the KMS key.
    """

    #: the only ACL the agent sets (and the only one a BucketOwnerEnforced bucket accepts)
    OUTPUT_ACL = "bucket-owner-full-control"

    def __init__(self, scope: Construct, construct_id: str, *, storage: StorageRefs) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        output_objects = f"{storage.bucket_arn}/{SSM_OUTPUT_PREFIX}*"
        exchange_objects = f"{storage.bucket_arn}/{HOST_EXCHANGE_PREFIX}*"
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="FreshTrack Ops SSM targets: write Run Command output to the backup bucket (ssm-output/), "
            "read the host's own exchange objects (ssm-exchange/hosts/)",
            statements=[
                iam.PolicyStatement(sid="WriteCommandOutput", actions=["s3:PutObject"], resources=[output_objects]),
                iam.PolicyStatement(
                    sid="OwnCommandOutput",
                    actions=["s3:PutObjectAcl"],
                    resources=[output_objects],
                    # the agent's canned ACL only: no other grant can be written onto an output object
                    conditions={"StringEquals": {"s3:x-amz-acl": self.OUTPUT_ACL}},
                ),
                *[
                    iam.PolicyStatement(
                        sid=sid,
                        actions=["s3:GetObject"],
                        resources=[exchange_objects],
                        # the caller's own instance ARN: absent from the other kind of credentials, so each
                        # statement matches only its kind, and only the objects written for that very host
                        conditions={"StringEquals": {f"s3:ExistingObjectTag/{HOST_TAG}": f"${{{source_key}}}"}},
                    )
                    for sid, source_key in (
                        ("ReadOwnExchangeEc2", "ec2:SourceInstanceARN"),
                        ("ReadOwnExchangeHybrid", "ssm:SourceInstanceARN"),
                    )
                ],
                iam.PolicyStatement(
                    sid="ReadBucketEncryption",
                    actions=["s3:GetEncryptionConfiguration"],
                    resources=[storage.bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="EncryptCommandOutput",
                    # Decrypt: the agent uploads an output over 5 MiB in parts (SSE-KMS multipart needs it)
                    actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    resources=[storage.key_arn],
                    # only through S3 (the bucket's SSE-KMS): the host can use the key for nothing else
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                ),
            ],
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{storage.bucket_arn_export}/{SSM_OUTPUT_PREFIX}*]",
            "The agent writes each command's output under ssm-output/<command id>/<instance id>/..., keys "
            "known only once a command runs, so the key part must be a wildcard (PutObject, and PutObjectAcl "
            "limited to bucket-owner-full-control; no reads).",
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{storage.bucket_arn_export}/{HOST_EXCHANGE_PREFIX}*]",
            "Host exchange objects are created per command (ssm-exchange/hosts/<instance id>/<random>): GetObject "
            "only, and only on objects tagged with the caller's own instance ARN (s3:ExistingObjectTag condition).",
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
        documents: HostDocumentsStack,
        **kwargs: Any,
    ) -> None:
        # CloudFormation counts a template's bytes, indentation included (1 MB for a template in S3): 20 targets
        # with the maintenance workflows took this one to 1,012,180 bytes indented (tests/infra
        # test_twenty_targets_stay_within_cloudwatch_and_cloudformation_limits)
        kwargs.setdefault("suppress_template_indentation", True)
        super().__init__(scope, construct_id, **kwargs)
        # the storage stack is referenced through named exports only (Fn::ImportValue): order them explicitly
        self.add_stack_dependency(storage)
        refs = storage.refs
        targets = TargetsParameter(self, "Targets", config=config)
        # the host script documents live in their own stack (template size); named here, never referenced
        self.add_stack_dependency(documents)
        self.host_documents = documents.documents
        data_key = kms.Key.from_key_arn(self, "DataKey", refs.key_arn)
        notifications = Notifications(self, "Notifications", key=data_key, emails=config.notification_emails)
        ssm_instances = {t.instance_id for t in config.targets if isinstance(t, SsmTarget)}
        webhook_secrets = (
            WebhookSecrets(self, "WebhookSecrets", deployment=config.name, key=data_key, settings=config.webhook)
            if config.webhook.enabled
            else None
        )
        chat_secret = (
            ChatSecret(self, "ChatSecret", deployment=config.name, key=data_key, settings=config.chat)
            if config.chat.enabled
            else None
        )
        resources = FunctionResources(
            storage=refs,
            targets_parameter_arn=targets.parameter.parameter_arn,
            topic_arn=notifications.topic.topic_arn,
            ssh_key_secret_arns=ssh_key_secret_arns(config.targets),
            document_arns=tuple(self.host_documents.document_arns()),
            ssm_instance_arns=tuple(
                sorted(instance_arn(self, i) for i in ssm_instances | set(standby_instance_ids(config.targets)))
            ),
            object_lock=config.object_lock_days is not None,
            dr=dr_resources(
                config.targets,
                AwsLocation(Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID),
                launch_template_id=launch_template_id,
            )
            if any(t.dr is not None for t in config.targets)
            else None,
            webhook_secret_arns=webhook_secrets.arns() if webhook_secrets else (),
            chat_secret_arns=(chat_secret.arn,) if chat_secret else (),
            chat_secret_on_data_key=chat_secret is not None and chat_secret.secret is not None,
            scale_instance_arns=tuple(instance_arn(self, i) for i in scale_instance_ids(config.targets)),
        )
        environment = {
            "BACKUP_BUCKET": refs.bucket_name,
            "OPS_TABLE": refs.table_name,
            "TARGETS_PARAMETER": targets.parameter.parameter_name,
            "NOTIFICATION_TOPIC_ARN": notifications.topic.topic_arn,
            "KEEP_LAST_VERIFIED": str(config.keep_last_verified),
            "KEEP_WEEKLY": str(config.keep_weekly),
            "KEEP_MONTHLY": str(config.keep_monthly),
            "SSM_DOCUMENT_PREFIX": self.host_documents.prefix,
            "SSM_OUTPUT_PREFIX": SSM_OUTPUT_PREFIX.rstrip("/"),
        }
        self.task_functions = TaskFunctions(
            self,
            "Tasks",
            factory_args={"environment": environment, "resources": resources, "vpc": config.vpc, "log_key": data_key},
        )
        self.functions = self.task_functions.functions()

        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name, workflow in WORKFLOWS.items():
            machine = WorkflowStateMachine(
                self,
                f"{camel(name)}Workflow",
                workflow=workflow,
                functions=self.functions,
                notifications=notifications,
                deployment=config.name,
                log_key=data_key,
                started={other: self.state_machines[other] for other in started_workflows(name)},
            ).state_machine
            self.state_machines[name] = machine
            CfnOutput(
                self,
                f"{camel(name)}StateMachineArn",
                value=machine.state_machine_arn,
                description=workflow.description,
            )

        self._grant_start("test-restore", "start-test-restore", start_test_restore_statement)
        self._grant_start("remediation", "start-remediation", start_remediation_statement)
        if self.state_machines:
            self._grant_task_callbacks()

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

        self.drop_asides_schedule = (
            FleetWorkflowSchedule(
                self,
                "DropAsidesSchedule",
                workflow="drop-asides",
                expression=DROP_ASIDES_EXPRESSION,
                state_machine=self.state_machines["drop-asides"],
            ).schedule
            if "drop-asides" in self.state_machines
            else None
        )
        for name, task in TASKS.items():
            if task.schedule:
                TaskSchedule(self, f"{name}Schedule", task=task, function=self.functions[name])
        # dashboards and the per-target alarms (RPO, daily check, maintenance): a nested stack (template size and
        # CloudFormation's 500 resources: 20 targets took this stack to 510, stacks/monitoring_stack.py)
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            config=config,
            bucket_name=refs.bucket_name,
            state_machines=self.state_machines,
            topic=notifications.topic,
            daily_check=DAILY_CHECK_WORKFLOW in self.state_machines,
        )
        if "disaster-recovery" in self.state_machines:
            self.dr_alarms = DrAlarms(
                self,
                "DrAlarms",
                config=config,
                state_machine=self.state_machines["disaster-recovery"],
                topic=notifications.topic,
            )
        self.lock_janitor = LockJanitorRule(
            self,
            "LockJanitor",
            function=self.task_functions.by_task[JANITOR_TASK].function,
            state_machines=self.state_machines,
            topic=notifications.topic,
        )
        self.command_completion = SsmCommandCompletionRule(
            self,
            "SsmCommandCompletion",
            function=self.task_functions.by_task[COMMAND_DONE_TASK].function,
            document_name_prefix=self.host_documents.name_prefix,
            topic=notifications.topic,
        )
        self.ssm_host_policy = SsmHostPolicy(self, "SsmHostPolicy", storage=refs).policy
        if "remediation" in self.state_machines:
            self.remediation_alarms = RemediationAlarms(
                self, "RemediationAlarms", state_machine=self.state_machines["remediation"], topic=notifications.topic
            )
        self.webhook: WebhookApi | None = None
        if webhook_secrets is not None:
            self._webhook(config, webhook_secrets, notifications.topic, data_key)
        self.chat: ChatSubscription | None = None
        if chat_secret is not None:
            self._chat(chat_secret, notifications.topic)

        CfnOutput(self, "NotificationTopicArn", value=notifications.topic.topic_arn)
        CfnOutput(self, "TargetsParameterName", value=targets.parameter.parameter_name)
        CfnOutput(
            self,
            "SsmHostPolicyArn",
            value=self.ssm_host_policy.managed_policy_arn,
            description="Attach to the instance role / hybrid activation role of every transport: ssm target",
        )

    def _grant_start(self, workflow: str, grant: str, statement: Callable[[str], iam.PolicyStatement]) -> None:
        """A late grant to start ``workflow``: the statement on the tasks holding ``grant``, and the machine's ARN
        in their environment (``<WORKFLOW>_STATE_MACHINE_ARN``)."""
        if workflow not in self.state_machines:
            return
        arn = self.state_machines[workflow].state_machine_arn
        for name, task in TASKS.items():
            if grant in task.grants:
                function = self.functions[name]
                function.add_to_role_policy(statement(arn))
                if isinstance(function, lambda_.Function):
                    function.add_environment(f"{workflow.upper().replace('-', '_')}_STATE_MACHINE_ARN", arn)

    def _webhook(self, config: DeploymentConfig, secrets: WebhookSecrets, topic: sns.ITopic, log_key: kms.IKey) -> None:
        """The webhook's settings and secrets' ARNs on the tasks that read them, its API, and the outputs."""
        for name, task in TASKS.items():
            function = self.functions[name]
            if "webhook-secrets" in task.grants and isinstance(function, lambda_.Function):
                for key, value in secrets.environment(config.webhook).items():
                    function.add_environment(key, value)
        self.webhook = WebhookApi(
            self,
            "Webhook",
            deployment=config.name,
            function=self.functions[WEBHOOK_TASK],
            settings=config.webhook,
            topic=topic,
            log_key=log_key,
        )
        for source, url in self.webhook.urls.items():
            CfnOutput(
                self,
                f"{camel(source)}WebhookUrl",
                value=url,
                description=f"Where {source} POSTs its alerts (docs/remediation.md)",
            )
            CfnOutput(
                self,
                f"{camel(source)}WebhookSecretName",
                value=webhook_secret_name(config.name, source),
                description=f"The Secrets Manager secret holding {source}'s webhook credential",
            )

    def _chat(self, secret: ChatSecret, topic: sns.ITopic) -> None:
        """ChatNotify: the secret's name and the settings in its environment, its subscription and dead letters."""
        function = self.task_functions.by_task[CHAT_TASK].function
        for key, value in secret.environment().items():
            function.add_environment(key, value)
        dead_letters = DeadLetters(
            self,
            "ChatDeadLetters",
            sources="the chat subscription (SNS RedrivePolicy) and ChatNotify's asynchronous invocations",
            alarm_description=(
                "Notifications the chat webhook did not take (FreshTrack Ops chat dead-letter queue): see ChatNotify's "
                "log for the answer (HTTP status), and the chat secret"
            ),
            topic=topic,
        )
        self.chat = ChatSubscription(self, "Chat", function=function, topic=topic, queue=dead_letters.queue)
        self.chat_dead_letters = dead_letters
        CfnOutput(
            self,
            "ChatSecretName",
            value=secret.name,
            description="The Secrets Manager secret holding the chat webhook URL (docs/configuration.md)",
        )

    def _grant_task_callbacks(self) -> None:
        arns = {wf: m.state_machine_arn for wf, m in self.state_machines.items()}
        roles_by_workflows: dict[tuple[str, ...], list[iam.IRole]] = {}
        for name, task in TASKS.items():
            if "task-callback" in task.grants:
                workflows = tuple(sorted(callback_state_machine_arns(name, {wf: wf for wf in arns})))
                roles_by_workflows.setdefault(workflows, []).append(self.task_functions.by_task[name].role)
        grant_task_callbacks(self, roles_by_workflows, arns)

    def callback_state_machine_arns(self, task: str) -> list[str]:
        """The workflows whose task tokens ``task`` may complete (``function_factory.callback_state_machine_arns``)."""
        return callback_state_machine_arns(task, {wf: m.state_machine_arn for wf, m in self.state_machines.items()})
