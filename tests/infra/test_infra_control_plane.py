"""Control-plane stack: functions from the catalog, state machines from the ASL files, schedules, topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from app import build_app
from freshtrack_ops.config import DeploymentConfig, TargetSet
from freshtrack_ops.daily.models import DailyCheckRequest
from freshtrack_ops.dr.models import CaptureConfigRequest, DisasterRecoveryRequest
from freshtrack_ops.maintenance.models import OsUpdateRequest, RotateSecretsRequest
from freshtrack_ops.models import BackupRequest, DropAsidesRequest, TestRestoreRequest
from freshtrack_ops.tasks import TASKS, WORKFLOWS
from freshtrack_ops.update.models import UpdateRequest
from stacks.control_plane_stack import CHAT_TASK, COMMAND_DONE_TASK, DROP_ASIDES_EXPRESSION, JANITOR_TASK
from stacks.dr_grants import ssh_key_secret_arns
from stacks.names import camel
from state_machines import TOPIC_PLACEHOLDER, asl_text, placeholders, render, started_workflows

from .conftest import (
    SKIP_BUNDLING,
    Synth,
    actions_of,
    assert_lint_clean,
    definition_text,
    flatten,
    resources_of,
    statements,
)
from .conftest import allowed_actions as _actions
from .conftest import role_statements as _role_statements
from .conftest import task_functions as _functions

pytestmark = pytest.mark.infra


def test_one_function_per_catalog_task_sharing_one_asset(synth: Synth) -> None:
    functions = _functions(synth)
    assert set(functions) == set(TASKS)
    assert len(synth.resources("control", "AWS::Lambda::Function")) == len(TASKS)
    assert len({json.dumps(props["Code"], sort_keys=True) for _, props in functions.values()}) == 1


@pytest.mark.parametrize("task", sorted(TASKS))
def test_function_runtime_tracing_and_settings(synth: Synth, task: str) -> None:
    _, props = _functions(synth)[task]
    spec = TASKS[task]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == spec.timeout_s
    assert props["MemorySize"] == spec.memory_mb
    assert "LogGroup" in props["LoggingConfig"]
    env = props["Environment"]["Variables"]
    assert set(env) >= {"BACKUP_BUCKET", "OPS_TABLE", "TARGETS_PARAMETER", "NOTIFICATION_TOPIC_ARN"}
    assert env["KEEP_LAST_VERIFIED"] == str(synth.config.keep_last_verified)
    assert env["POWERTOOLS_SERVICE_NAME"] == "freshtrack-ops"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "FreshTrackOps"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_function_log_groups_have_retention(synth: Synth) -> None:
    groups = synth.resources("control", "AWS::Logs::LogGroup")
    # one per function, one per workflow, the webhook API's access log
    assert len(groups) == len(TASKS) + len(WORKFLOWS) + int(synth.config.webhook.enabled)
    assert all(g["Properties"].get("RetentionInDays") for g in groups.values())


SERVICES_OF_GRANT: dict[str, set[str]] = {
    # the parameter, and the SERVERS partition of the (encrypted) ops table
    "targets": {"ssm", "dynamodb", "kms"},
    "ssh-keys": {"secretsmanager"},
    "bucket-read": {"s3", "kms"},
    "bucket-write": {"s3", "kms"},
    "bucket-tags": {"s3"},
    "deploy-logs": {"s3", "kms"},
    "reports": {"s3", "kms"},
    "start-test-restore": {"states"},
    "table": {"dynamodb", "kms"},
    "notify": {"sns", "kms"},
    "ssm-commands": {"ssm", "s3", "kms"},
    "part-url-discard": {"s3"},
    "ssm-results": {"ssm", "s3", "kms"},
    "task-callback": {"states"},
    "ec2-replacement": {"ec2", "ssm", "iam"},
    "drill-cleanup": {"ec2"},
    "route53-record": {"route53"},
    "app-config-read": {"secretsmanager", "s3", "kms"},
    "app-config-write": {"secretsmanager", "s3", "kms"},
    "start-remediation": {"states"},
    # the two secrets, encrypted with the data key
    "webhook-secrets": {"secretsmanager", "kms"},
    # the stack's chat secret, encrypted with the data key
    "chat-secret": {"secretsmanager", "kms"},
    # the scale workflow's validator and instance task
    "ec2-describe": {"ec2"},
    "ec2-scale": {"ec2"},
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_role_is_derived_from_the_task_grants(synth: Synth, task: str) -> None:
    actions = _actions(_role_statements(synth, task))
    services = {a.split(":")[0] for a in actions}
    expected = {service for g in TASKS[task].grants for service in SERVICES_OF_GRANT[g]} | {"logs", "xray"}
    if task in (COMMAND_DONE_TASK, JANITOR_TASK, CHAT_TASK):
        expected.add("sqs")  # its asynchronous invocations' on-failure destination (the dead-letter queue)
    assert services == expected
    assert not any(a.endswith("*") for a in actions), actions


def _on_prefix(statement: dict[str, Any], prefix: str) -> bool:
    return any(flatten(r).endswith(f"/{prefix}*") for r in resources_of(statement))


def test_read_only_tasks_cannot_write_backups(synth: Synth) -> None:
    for task, spec in TASKS.items():
        if "bucket-read" in spec.grants and "bucket-write" not in spec.grants:
            backup_statements = [
                s
                for s in _role_statements(synth, task)
                if any(a.startswith("s3:") for a in actions_of(s))
                and not _on_prefix(s, "ssm-exchange/")
                and not _on_prefix(s, "ssm-output/")
            ]
            # ssm-commands adds nothing on backups/: a presigned URL can only do what the signer may
            assert _actions(backup_statements) == {"s3:GetObject", "s3:ListBucket"}, task


def test_dump_writes_backups_and_the_lock_has_no_s3(synth: Synth) -> None:
    dump = _role_statements(synth, "BackupDump")
    assert {"s3:PutObject", "s3:AbortMultipartUpload"} <= _actions(dump)
    # the dump's table access (the pending SSM command record) is the ops table and nothing else
    table = [s for s in dump if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert [flatten(r) for s in table for r in resources_of(s)] == [f"${{Import:{synth.config.name}-OpsTableArn}}"]
    lock = _actions(_role_statements(synth, "HostLock"))
    assert not any(a.startswith(("s3:", "secretsmanager:", "ssm:")) for a in lock)
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= lock


#: the object prefixes a task role may name, and the object actions allowed on each
OBJECT_ACTIONS_BY_PREFIX = {
    "backups/": {
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObjectTagging",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    },
    "ssm-exchange/": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:PutObjectTagging"},
    "ssm-output/": {"s3:GetObject"},  # only the agent writes command output
    "deploy-logs/": {"s3:PutObject"},  # written once per deployment, never read back by the functions
    # daily reports and a service workflow's saved logs; GetObject: a report's link is presigned by its writer
    "reports/": {"s3:PutObject", "s3:GetObject"},
    # a DR's app configuration in transit: deleted version by version (no DeleteObject: it would keep the data);
    # the bypass only with Object Lock (not in the example)
    "dr-transfer/": {"s3:PutObject", "s3:GetObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"},
}


def test_s3_object_actions_are_scoped_to_known_prefixes(synth: Synth) -> None:
    bucket = f"${{Import:{synth.config.name}-BackupBucketArn}}"
    for task in TASKS:
        for statement in _role_statements(synth, task):
            object_actions = {a for a in actions_of(statement) if a.startswith("s3:") and "Bucket" not in a}
            if object_actions:
                (resource,) = resources_of(statement)
                text = flatten(resource)
                prefix = text.removeprefix(f"{bucket}/").removesuffix("*")
                assert text == f"{bucket}/{prefix}*" and prefix in OBJECT_ACTIONS_BY_PREFIX, (task, text)
                assert object_actions <= OBJECT_ACTIONS_BY_PREFIX[prefix], (task, prefix, object_actions)


def test_the_tasks_that_finish_a_deployment_may_write_deploy_logs_and_no_other(synth: Synth) -> None:
    """Inline (AppDeploy), as a host job (HostJobPoll) or over SSM (HostCommandDone): the deploy step's finish
    writes the log, so exactly these roles may put objects under deploy-logs/."""
    writers = {
        task
        for task in TASKS
        for statement in _role_statements(synth, task)
        if "s3:PutObject" in actions_of(statement) and _on_prefix(statement, "deploy-logs/")
    }
    assert writers == {"AppDeploy", "HostJobPoll", "HostCommandDone"}


def test_ssh_keys_grant_names_exactly_the_configured_secrets(synth: Synth) -> None:
    """The SSH targets' keys, and those of the DR replacements and SSH standbys (tests/infra/test_infra_dr.py
    checks a configuration where they differ); the app-config secrets are the DR grants' (no other role's), the
    webhook's the webhook grant's (tests/infra/test_infra_webhook.py), the chat secret ChatNotify's
    (tests/infra/test_infra_chat.py)."""
    configured = set(ssh_key_secret_arns(synth.config.targets))
    assert configured
    for task, spec in TASKS.items():
        secret_statements = [
            s
            for s in _role_statements(synth, task)
            if any(a.startswith("secretsmanager:") for a in actions_of(s))
            and "app-config" not in json.dumps(s)
            and s.get("Sid") not in ("ReadWebhookSecrets", "ReadChatSecret")
        ]
        if "ssh-keys" in spec.grants:
            (statement,) = secret_statements
            assert actions_of(statement) == ["secretsmanager:GetSecretValue"]
            assert set(resources_of(statement)) == configured
        else:
            assert not secret_statements


def _state_machines(synth: Synth) -> dict[str, dict[str, Any]]:
    outputs = synth.control["Outputs"]
    machines = {}
    for name in WORKFLOWS:
        logical_id = outputs[f"{camel(name)}StateMachineArn"]["Value"]["Ref"]
        machines[name] = synth.control["Resources"][logical_id]
    return machines


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_state_machine_definition_is_the_asl_file_with_every_placeholder_bound(synth: Synth, workflow: str) -> None:
    machine = _state_machines(synth)[workflow]
    props = machine["Properties"]
    assert "DefinitionString" not in props and "Definition" not in props, "the ASL is an S3 asset (template size)"
    definition = definition_text(synth, machine)
    assert definition == asl_text(workflow), "the asset is the ASL file as written, placeholders and all"
    values = props["DefinitionSubstitutions"]
    assert placeholders(definition) == set(values), "exactly the placeholders the ASL uses are bound"
    functions = _functions(synth)
    for task in TASKS:
        if f"{task}FunctionArn" in values:
            assert values[f"{task}FunctionArn"] == {"Fn::GetAtt": [functions[task][0], "Arn"]}
    topic_id = next(iter(synth.resources("control", "AWS::SNS::Topic")))
    assert values[TOPIC_PLACEHOLDER] == {"Ref": topic_id}
    rendered = render(workflow, {key: f"arn:aws:test:::{key}" for key in values})
    assert "${" not in rendered


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_state_machine_is_standard_logged_and_traced(synth: Synth, workflow: str) -> None:
    props = _state_machines(synth)[workflow]["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}


STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/ControlPlane/1a2b3c4d-0000-4000-8000-000000000000"


def _evaluate(value: Any) -> Any:
    """A template value with ``AWS::StackId`` = STACK_ID (Ref, Fn::Join, Fn::Split, Fn::Select)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and arg == "AWS::StackId":
            return STACK_ID
        if key == "Fn::Join":
            return str(arg[0]).join(str(_evaluate(part)) for part in arg[1])
        if key == "Fn::Split":
            return str(_evaluate(arg[1])).split(arg[0])
        if key == "Fn::Select":
            return _evaluate(arg[1])[int(arg[0])]
    if isinstance(value, str):
        return value
    raise ValueError(f"cannot evaluate {value!r}")


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_state_machine_logs_under_vendedlogs(synth: Synth, workflow: str) -> None:
    """Step Functions adds a log group outside /aws/vendedlogs/ to the account's CloudWatch Logs resource policy
    (5,120 characters for all of them); under /aws/vendedlogs/states/ one policy entry covers every group."""
    props = _state_machines(synth)[workflow]["Properties"]
    (destination,) = props["LoggingConfiguration"]["Destinations"]
    group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = synth.control["Resources"][group_id]
    name = _evaluate(group["Properties"]["LogGroupName"])
    # the stack id's first block keeps a re-created stack clear of the group its predecessor retained
    assert name == f"/aws/vendedlogs/states/{synth.config.name}-{workflow}-1a2b3c4d"
    assert group["DeletionPolicy"] == "Retain"
    assert group["Properties"]["RetentionInDays"]


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_state_machine_may_invoke_exactly_the_task_functions_and_publish(synth: Synth, workflow: str) -> None:
    role_id = _state_machines(synth)[workflow]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    found = [
        s
        for p in synth.resources("control", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in statements(p)
    ]
    invoke = [s for s in found if "lambda:InvokeFunction" in actions_of(s)]
    (statement,) = invoke
    used = {name for name in TASKS if f"{name}FunctionArn" in placeholders(asl_text(workflow))}
    assert used
    functions = _functions(synth)
    expected = {json.dumps({"Fn::GetAtt": [functions[name][0], "Arn"]}) for name in used}
    assert {json.dumps(r) for r in resources_of(statement)} == expected
    topic_id = next(iter(synth.resources("control", "AWS::SNS::Topic")))
    publish = [s for s in found if "sns:Publish" in actions_of(s)]
    assert [resources_of(s) for s in publish] == [[{"Ref": topic_id}]]


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_a_workflow_may_start_and_follow_exactly_the_workflows_it_starts(synth: Synth, workflow: str) -> None:
    """``states:startExecution.sync:2`` needs StartExecution on the child machine, Describe/StopExecution on its
    executions and the managed EventBridge rule; a workflow that starts none gets none of them."""
    role_id = _state_machines(synth)[workflow]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    found = [
        s
        for p in synth.resources("control", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in statements(p)
    ]
    start = [s for s in found if "states:StartExecution" in actions_of(s)]
    follow = [s for s in found if "states:DescribeExecution" in actions_of(s)]
    rule = [s for s in found if "events:PutRule" in actions_of(s)]
    children = started_workflows(workflow)
    if not children:
        assert start == follow == rule == []
        return
    refs = _machine_refs(synth)
    ((start_statement,), (follow_statement,), (rule_statement,)) = (start, follow, rule)
    assert resources_of(start_statement) == [refs[child] for child in children]
    assert set(actions_of(follow_statement)) == {"states:DescribeExecution", "states:StopExecution"}
    names = json.dumps(resources_of(follow_statement))
    assert all(refs[child]["Ref"] in names for child in children) and len(resources_of(follow_statement)) == len(
        children
    )
    assert "StepFunctionsGetEventsForStepFunctionsExecutionRule" in json.dumps(resources_of(rule_statement))


def test_update_and_rollback_start_the_restore_workflow() -> None:
    assert started_workflows("update") == ["restore"]
    assert started_workflows("rollback") == ["restore"]


def test_update_fleet_starts_the_update_workflow_which_is_created_before_it() -> None:
    """CDK creates the workflows in catalog order and hands each the ARNs of those it starts (``started=``)."""
    assert started_workflows("update-fleet") == ["update"]
    assert list(WORKFLOWS).index("update") < list(WORKFLOWS).index("update-fleet")


SCHEDULED: dict[str, tuple[type[BaseModel], dict[str, str]]] = {
    "backup": (BackupRequest, {"prod": "cron(0 2 * * ? *)", "staging": "cron(0 * * * ? *)"}),  # staging: hourly
    "test-restore": (TestRestoreRequest, {"prod": "cron(30 3 * * ? *)", "staging": "cron(30 3 * * ? *)"}),
    # image updates only: staging has no update.image_update_schedule, so it has no schedule
    "update": (UpdateRequest, {"prod": "cron(0 4 ? * 1#1 *)"}),
    # drills only (dr.drill_schedule): staging has no dr section
    "disaster-recovery": (DisasterRecoveryRequest, {"prod": "cron(0 5 ? * 2#1 *)"}),
    # the app config into its secret (dr.capture_schedule, daily by default): read-only on the host
    "capture-config": (CaptureConfigRequest, {"prod": "cron(30 2 * * ? *)"}),
    # the daily check (daily_check.schedule, 07:00 UTC by default; read-only): PRECONDITION, needs the daily-check
    # workflow in the catalog (until then test_one_schedule_per_target_in_utc[daily-check] fails)
    "daily-check": (DailyCheckRequest, {"prod": "cron(0 7 * * ? *)", "staging": "cron(0 7 * * ? *)"}),
    # the monthly OS update and the quarterly rotation (maintenance.*_schedule): prod only
    "os-update": (OsUpdateRequest, {"prod": "cron(0 3 ? * 1#2 *)"}),
    "rotate-secrets": (RotateSecretsRequest, {"prod": "cron(0 4 1 1,4,7,10 ? *)"}),
}


def _schedules(synth: Synth) -> list[dict[str, Any]]:
    return [s["Properties"] for s in synth.resources("control", "AWS::Scheduler::Schedule").values()]


def test_destructive_workflows_are_never_scheduled(synth: Synth) -> None:
    machines = {json.dumps(m): name for name, m in _machine_refs(synth).items()}
    scheduled = {
        machines[json.dumps(s["Target"]["Arn"])]
        for s in _schedules(synth)
        if json.dumps(s["Target"]["Arn"]) in machines
    }
    assert scheduled == (set(SCHEDULED) & set(WORKFLOWS)) | {"drop-asides"}
    assert "restore" not in scheduled and "rollback" not in scheduled
    # the update workflow is scheduled for image updates only, never for new code
    update = _machine_refs(synth)["update"]
    kinds = {json.loads(s["Target"]["Input"]).get("kind") for s in _schedules(synth) if s["Target"]["Arn"] == update}
    assert kinds == {"images"}
    # the disaster-recovery workflow is scheduled for drills only, never to move a domain
    dr = _machine_refs(synth)["disaster-recovery"]
    modes = {json.loads(s["Target"]["Input"]).get("mode") for s in _schedules(synth) if s["Target"]["Arn"] == dr}
    assert modes == {"drill"}


def test_drop_asides_runs_hourly_for_every_target_at_once(synth: Synth) -> None:
    """One schedule for the fleet (its input names no target: every target's due asides), in UTC, away from the
    top of the hour the backups take; the input is a valid DropAsidesRequest."""
    drop = _machine_refs(synth)["drop-asides"]
    (schedule,) = [s for s in _schedules(synth) if s["Target"]["Arn"] == drop]
    assert schedule["ScheduleExpression"] == DROP_ASIDES_EXPRESSION == "cron(40 * * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"
    request = DropAsidesRequest.model_validate(json.loads(schedule["Target"]["Input"]))
    assert request.host is None


def _machine_refs(synth: Synth) -> dict[str, Any]:
    return {name: synth.control["Outputs"][f"{camel(name)}StateMachineArn"]["Value"] for name in WORKFLOWS}


@pytest.mark.parametrize("workflow", sorted(SCHEDULED))
def test_one_schedule_per_target_in_utc(synth: Synth, workflow: str) -> None:
    assert workflow in WORKFLOWS, f"PRECONDITION: the {workflow} workflow is not in the catalog yet"
    model, expected = SCHEDULED[workflow]
    machine = _machine_refs(synth)[workflow]
    schedules = [s for s in _schedules(synth) if s["Target"]["Arn"] == machine]
    by_host = {json.loads(s["Target"]["Input"])["host"]: s for s in schedules}
    assert len(by_host) == len(schedules) == len(expected)
    assert set(by_host) == set(expected) <= {t.id for t in synth.config.targets}
    for host, schedule in by_host.items():
        assert schedule["ScheduleExpression"] == expected[host]
        assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        payload = json.loads(schedule["Target"]["Input"])
        model.model_validate(payload)  # the workflow's own input model accepts it
        if workflow == "backup":
            assert payload == {"host": host, "trigger": "schedule", "reason": "scheduled backup"}
        if workflow == "update":
            expected_input = {"kind": "images", "rollback_database": "auto", "reason": "scheduled image update"}
            assert payload == {"host": host} | expected_input
        if workflow == "daily-check":
            assert payload == {"host": host, "trigger": "schedule", "reason": "scheduled daily check"}
        if workflow == "os-update":
            assert payload == {"host": host, "trigger": "schedule", "reason": "monthly maintenance window"}
        if workflow == "rotate-secrets":  # the schedule is the configured consent: it types the confirmation
            assert payload == {
                "host": host,
                "confirm": host,
                "trigger": "schedule",
                "reason": "quarterly secret rotation",
            }
        if workflow == "disaster-recovery":
            # a drill with the request's defaults: provision a server, restore the latest verified backup
            assert payload == {"host": host, "mode": "drill"}
        # the scheduler role may start exactly this workflow
        role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
        found = [
            st
            for p in synth.resources("control", "AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for st in statements(p)
        ]
        assert [(actions_of(st), resources_of(st)) for st in found] == [(["states:StartExecution"], [machine])]


def test_topic_is_encrypted_tls_only_with_one_email_subscription_each(synth: Synth) -> None:
    (topic,) = synth.resources("control", "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::ImportValue": f"{synth.config.name}-DataKeyArn"}
    # besides these, ChatNotify's lambda subscription (chat.enabled in the example: tests/infra/test_infra_chat.py)
    subscriptions = [
        s
        for s in synth.resources("control", "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] != "lambda"
    ]
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions) == sorted(synth.config.notification_emails)
    assert all(s["Properties"]["Protocol"] == "email" for s in subscriptions)
    (policy,) = synth.resources("control", "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements(policy)
    )


def test_targets_parameter_holds_the_target_set_without_secrets(synth: Synth) -> None:
    (parameter,) = synth.resources("control", "AWS::SSM::Parameter").values()
    props = parameter["Properties"]
    assert props["Type"] == "String"
    assert props["Name"] == f"/{synth.config.name}/targets"
    assert TargetSet.model_validate_json(props["Value"]) == synth.config.target_set()
    assert "PRIVATE KEY" not in props["Value"]
    for task in TASKS:
        _, fn = _functions(synth)[task]
        assert fn["Environment"]["Variables"]["TARGETS_PARAMETER"] == {
            "Ref": next(iter(synth.resources("control", "AWS::SSM::Parameter")))
        }


@pytest.mark.parametrize("copies", [1, 4], ids=["under-4KB", "over-4KB"])
def test_targets_parameter_tier_never_asks_for_a_downgrade(example_config: DeploymentConfig, copies: int) -> None:
    """An Advanced parameter cannot go back to Standard (the update fails): the tier is Intelligent-Tiering
    whatever the size, so Parameter Store upgrades a value over 4 KB and never is asked to downgrade one."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.control_plane_stack import STANDARD_PARAMETER_LIMIT, TargetsParameter

    targets = tuple(t.model_copy(update={"id": f"{t.id}-{n}"}) for n in range(copies) for t in example_config.targets)
    config = example_config.model_copy(update={"targets": targets})
    size = len(config.target_set().parameter_json().encode())
    assert (size > STANDARD_PARAMETER_LIMIT) == (copies > 1), size
    stack = cdk.Stack(cdk.App(), "Parameter")
    TargetsParameter(stack, "Targets", config=config)
    Template.from_stack(stack).has_resource_properties("AWS::SSM::Parameter", {"Tier": "Intelligent-Tiering"})


def test_a_backup_flexible_window_is_its_schedules_and_only_its(example_config: DeploymentConfig) -> None:
    """``backup.flexible_window_minutes`` becomes that target's backup schedule's FlexibleTimeWindow (EventBridge
    Scheduler then starts it within the window: docs/fleet-load.md); every other schedule stays exactly on time, and
    each schedule's input is ``schedule_inputs``' (what the local plane's ``fire_schedules`` sends)."""
    import aws_cdk as cdk
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk.assertions import Template

    from stacks.control_plane_stack import WorkflowSchedules
    from stacks.scheduled_runs import schedule_inputs, scheduled_run

    prod, staging = example_config.targets
    spread = prod.model_copy(update={"backup": prod.backup.model_copy(update={"flexible_window_minutes": 30})})
    stack = cdk.Stack(cdk.App(), "Schedules")
    machine = sfn.StateMachine.from_state_machine_arn(
        stack, "Machine", "arn:aws:states:eu-west-1:123456789012:stateMachine:backup"
    )
    for workflow in ("backup", "test-restore"):
        WorkflowSchedules(
            stack, workflow, run=scheduled_run(workflow), targets=(spread, staging), state_machine=machine
        )
    schedules = [
        r["Properties"] for r in Template.from_stack(stack).find_resources("AWS::Scheduler::Schedule").values()
    ]
    windows = {(s["Description"], json.dumps(s["FlexibleTimeWindow"], sort_keys=True)) for s in schedules}
    assert windows == {
        ("Scheduled backup of prod", '{"MaximumWindowInMinutes": 30, "Mode": "FLEXIBLE"}'),
        ("Scheduled backup of staging", '{"Mode": "OFF"}'),
        ("Scheduled test-restore of prod", '{"Mode": "OFF"}'),
        ("Scheduled test-restore of staging", '{"Mode": "OFF"}'),
    }
    backups = {
        s["Description"].rsplit(" ", 1)[-1]: json.loads(s["Target"]["Input"])
        for s in schedules
        if "backup" in s["Description"]
    }
    assert backups == schedule_inputs("backup", (spread, staging))


def test_targets_parameter_over_8KB_is_refused(example_config: DeploymentConfig) -> None:
    import aws_cdk as cdk

    from stacks.control_plane_stack import TargetsParameter

    targets = tuple(t.model_copy(update={"id": f"{t.id}-{n}"}) for n in range(20) for t in example_config.targets)
    config = example_config.model_copy(update={"targets": targets})
    with pytest.raises(ValueError, match=r"^targets: the targets JSON is \d+ bytes"):
        TargetsParameter(cdk.Stack(cdk.App(), "Parameter"), "Targets", config=config)


def test_control_plane_outputs(synth: Synth) -> None:
    outputs = synth.control["Outputs"]
    assert "NotificationTopicArn" in outputs
    for name in WORKFLOWS:
        assert f"{camel(name)}StateMachineArn" in outputs


def test_ssm_only_deployment_grants_no_secrets_and_still_passes_nag(
    example_config: DeploymentConfig, tmp_path: Path
) -> None:
    staging = next(t for t in example_config.targets if t.transport == "ssm")
    # and the webhook and chat off: their secrets are the only other secrets a deployment grants
    # (test_infra_webhook.py, test_infra_chat.py)
    webhook = example_config.webhook.model_copy(update={"enabled": False})
    chat = example_config.chat.model_copy(update={"enabled": False})
    config = example_config.model_copy(
        update={"targets": (staging,), "notification_emails": (), "webhook": webhook, "chat": chat}
    )
    app = build_app(config, outdir=str(tmp_path), context=SKIP_BUNDLING)
    app.synth()  # cdk-nag passes here too
    assert_lint_clean(sorted(tmp_path.glob("*.template.json")))  # no subscription: no notification dead letters
    control = json.loads((tmp_path / f"{config.name}ControlPlane.template.json").read_text())
    text = json.dumps(control)
    assert "secretsmanager:" not in text
    types = [r["Type"] for r in control["Resources"].values()]
    assert "AWS::SNS::Subscription" not in types
    assert types.count("AWS::SQS::Queue") == 2  # the two EventBridge consumers' dead letters only
    scheduled_tasks = [task for task in TASKS.values() if task.schedule]
    # staging's own schedules (not prod's image updates) and the scheduled tasks
    workflow_schedules = sum(staging.id in SCHEDULED[name][1] for name in set(SCHEDULED) & set(WORKFLOWS))
    # + the fleet-wide drop-asides schedule
    assert types.count("AWS::Scheduler::Schedule") == workflow_schedules + len(scheduled_tasks) + 1


def test_scheduled_tasks_run_in_utc_with_their_catalog_expression(synth: Synth) -> None:
    expressions = sorted(
        s["ScheduleExpression"] for s in _schedules(synth) if s["Target"]["Arn"] not in _machine_refs(synth).values()
    )
    assert expressions == sorted(task.schedule for task in TASKS.values() if task.schedule)
    assert all(s["ScheduleExpressionTimezone"] == "Etc/UTC" for s in _schedules(synth))


def test_one_rpo_alarm_per_target_notifies_the_topic(synth: Synth) -> None:
    """In the monitoring nested stack (stacks/monitoring_stack.py: the control plane's 500 resources)."""
    alarms = [
        a
        for path in synth.outdir.glob("*ControlPlaneMonitoring*.nested.template.json")
        for a in json.loads(path.read_text())["Resources"].values()
        if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"].get("MetricName") == "NewestVerifiedBackupAgeHours"
    ]
    assert alarms
    by_host = {
        next(d["Value"] for d in a["Properties"]["Dimensions"] if d["Name"] == "host"): a["Properties"] for a in alarms
    }
    assert set(by_host) == {t.id for t in synth.config.targets}
    for props in by_host.values():
        assert props["MetricName"] == "NewestVerifiedBackupAgeHours"
        assert props["Threshold"] == synth.config.rpo_alarm_hours
        assert props["TreatMissingData"] == "breaching"
        assert props["AlarmActions"] and props["OKActions"]
