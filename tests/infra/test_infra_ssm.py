"""SSM Run Command wiring: task grants, the completion rule, its dead letters, the host policy, the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from app import build_app
from freshtrack_ops.config import DeploymentConfig, SsmTarget
from freshtrack_ops.host_scripts.ssm_document import document_name, document_scripts
from freshtrack_ops.tasks import TASKS, WORKFLOWS
from stacks.control_plane_stack import COMMAND_DONE_TASK, FINAL_COMMAND_STATUSES
from stacks.function_factory import TASK_CALLBACK_ACTIONS
from stacks.names import camel
from state_machines import invoked_tasks

from .conftest import (
    SKIP_BUNDLING,
    Synth,
    actions_of,
    allowed_actions,
    assert_lint_clean,
    flatten,
    resources_of,
    role_policies,
    role_statements,
    statements,
    task_functions,
)

pytestmark = pytest.mark.infra

ACCOUNT_ARN = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:{resource}"
#: the only actions a task role may have on Resource "*" (none of them supports resource-level permissions)
WILDCARD_ACTIONS_OF_GRANT = {
    "ssm-commands": {"ssm:CancelCommand", "ssm:DescribeInstanceInformation"},
    "ssm-results": {"ssm:GetCommandInvocation"},
    # a replacement's running state and addresses, and whether it is online in SSM (stacks/dr_grants.py)
    "ec2-replacement": {"ec2:DescribeInstances", "ssm:DescribeInstanceInformation"},
    # the lock janitor finds an aborted drill's server by its tag
    "drill-cleanup": {"ec2:DescribeInstances"},
    # the scale workflow's validator and instance task: DescribeInstances has no resource-level permissions
    "ec2-describe": {"ec2:DescribeInstances"},
    "ec2-scale": {"ec2:DescribeInstances"},
}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _arn(service: str, resource: str) -> str:
    return ACCOUNT_ARN.replace("{service}", service).replace("{resource}", resource)


def _tasks_with(grant: str) -> list[str]:
    return sorted(name for name, task in TASKS.items() if grant in task.grants)


def _machine_ids(synth: Synth) -> dict[str, str]:
    return {name: synth.control["Outputs"][f"{camel(name)}StateMachineArn"]["Value"]["Ref"] for name in WORKFLOWS}


def _completion_function_id(synth: Synth) -> str:
    return task_functions(synth)[COMMAND_DONE_TASK][0]


def _queue_id(synth: Synth) -> str:
    """The completion rule's dead-letter queue (each async consumer has its own: test_infra_dead_letters.py)."""
    (rule,) = [r for r in synth.resources("control", "AWS::Events::Rule").values() if "aws.ssm" in json.dumps(r)]
    (target,) = rule["Properties"]["Targets"]
    queue_id: str = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert synth.control["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
    return queue_id


def test_the_catalog_has_the_tasks_this_wiring_expects() -> None:
    assert COMMAND_DONE_TASK in TASKS
    assert {"ssm-results", "task-callback"} <= TASKS[COMMAND_DONE_TASK].grants
    assert _tasks_with("ssm-commands") and _tasks_with("task-callback")


def test_every_function_gets_the_ssm_settings(synth: Synth) -> None:
    from freshtrack_ops.runtime import Settings

    assert synth.config.name == "FreshTrackOps"  # whose documents carry no extra prefix
    for task, (_, props) in task_functions(synth).items():
        env = props["Environment"]["Variables"]
        assert env["SSM_DOCUMENT_PREFIX"] == "", task
        assert env["SSM_OUTPUT_PREFIX"] == "ssm-output", task
        # the runtime reads them (lower-cased names) and accepts every literal value the stack sets
        tokens = {"backup_bucket": "bucket", "ops_table": "table", "targets_parameter": "/FreshTrackOps/targets"}
        literal = {key.lower(): value for key, value in env.items() if isinstance(value, str)}
        settings = Settings.model_validate({**tokens, **literal})
        assert (settings.ssm_document_prefix, settings.ssm_output_prefix) == ("", "ssm-output"), task


@pytest.mark.parametrize("task", _tasks_with("ssm-commands"))
def test_send_command_names_only_the_host_documents_and_the_configured_instances(synth: Synth, task: str) -> None:
    found = [s for s in role_statements(synth, task) if "ssm:SendCommand" in actions_of(s)]
    (statement,) = found
    assert statement["Sid"] == "SendHostCommands"
    assert actions_of(statement) == ["ssm:SendCommand"]
    documents = {_arn("ssm", f"document/{document_name(script)}") for script in document_scripts()}
    instances = {_arn("ec2", f"instance/{t.instance_id}") for t in synth.config.targets if isinstance(t, SsmTarget)}
    assert instances, "the example config has an SSM target"
    assert {flatten(r) for r in resources_of(statement)} == documents | instances


@pytest.mark.parametrize("task", _tasks_with("ssm-commands"))
def test_ssm_commands_manage_commands_and_the_part_url_lists(synth: Synth, task: str) -> None:
    by_sid = {s.get("Sid"): s for s in role_statements(synth, task)}
    manage = by_sid["ManageHostCommands"]
    assert set(actions_of(manage)) == {"ssm:CancelCommand", "ssm:DescribeInstanceInformation"}
    assert resources_of(manage) == ["*"]
    lists = by_sid["PartUrlLists"]
    assert set(actions_of(lists)) == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:PutObjectTagging"}
    assert [flatten(r) for r in resources_of(lists)] == [
        f"${{Import:{synth.config.name}-BackupBucketArn}}/ssm-exchange/*"
    ]
    assert {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"} <= set(actions_of(by_sid["DataKey"]))


def test_tasks_without_the_ssm_grants_cannot_use_run_command(synth: Synth) -> None:
    for task, spec in TASKS.items():
        actions = allowed_actions(role_statements(synth, task))
        ssm_actions = {a for a in actions if a.startswith("ssm:")} - {"ssm:GetParameter"}
        expected = set()
        if "ssm-commands" in spec.grants:
            expected |= {"ssm:SendCommand", "ssm:CancelCommand", "ssm:DescribeInstanceInformation"}
        if "ssm-results" in spec.grants:
            expected |= {"ssm:GetCommandInvocation"}
        if "ec2-replacement" in spec.grants:
            expected |= {"ssm:DescribeInstanceInformation"}  # is the replacement online in SSM (no command)
        assert ssm_actions == expected, task


def test_wildcard_resources_only_for_actions_without_resource_level_permissions(synth: Synth) -> None:
    for task, spec in TASKS.items():
        allowed = XRAY_ACTIONS.union(*(WILDCARD_ACTIONS_OF_GRANT.get(g, set()) for g in spec.grants))
        wildcard = {a for s in role_statements(synth, task) if "*" in resources_of(s) for a in actions_of(s)}
        assert wildcard == allowed, task


def _exchange_statements(statement_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statement_list if any(flatten(r).endswith("/ssm-exchange/*") for r in resources_of(s))]


def test_command_done_reads_results_and_discards_part_url_lists_only(synth: Synth) -> None:
    """handlers/host.py command_done: GetCommandInvocation and the output objects (SsmCommands.status); the
    steps' finish/abandon delete the upload's part-URL list (presign.discard_part_urls) and nothing else there."""
    found = role_statements(synth, COMMAND_DONE_TASK)
    actions = allowed_actions(found)
    assert {a for a in actions if a.startswith("ssm:")} == {"ssm:GetParameter", "ssm:GetCommandInvocation"}
    exchange = _exchange_statements(found)
    assert [(s["Sid"], actions_of(s)) for s in exchange] == [("DiscardPartUrlLists", ["s3:DeleteObject"])]


def test_command_done_reads_invocations_and_their_output(synth: Synth) -> None:
    by_sid = {s.get("Sid"): s for s in role_statements(synth, COMMAND_DONE_TASK)}
    invocations = by_sid["ReadCommandInvocations"]
    assert actions_of(invocations) == ["ssm:GetCommandInvocation"] and resources_of(invocations) == ["*"]
    output = by_sid["ReadCommandOutput"]
    assert actions_of(output) == ["s3:GetObject"]
    assert [flatten(r) for r in resources_of(output)] == [
        f"${{Import:{synth.config.name}-BackupBucketArn}}/ssm-output/*"
    ]
    assert "kms:Decrypt" in actions_of(by_sid["DataKey"])


@pytest.mark.parametrize("task", _tasks_with("task-callback"))
def test_task_callback_is_a_policy_of_its_own_on_the_invoking_workflows(synth: Synth, task: str) -> None:
    policies = role_policies(synth, task)
    callback = {
        logical_id: p
        for logical_id, p in policies.items()
        if any(a.startswith("states:SendTask") for s in statements(p) for a in actions_of(s))
    }
    ((policy_id, policy),) = callback.items()
    (statement,) = statements(policy)
    assert statement["Sid"] == "TaskCallback"
    assert actions_of(statement) == list(TASK_CALLBACK_ACTIONS)
    machines = _machine_ids(synth)
    invoking = {wf for wf in WORKFLOWS if task in invoked_tasks(wf)} or set(WORKFLOWS)
    assert {json.dumps(r) for r in resources_of(statement)} == {json.dumps({"Ref": machines[wf]}) for wf in invoking}
    # no cycle: the function (which the workflows reference) must not wait for this policy
    function_id, _ = task_functions(synth)[task]
    depends_on = synth.control["Resources"][function_id].get("DependsOn", [])
    assert policy_id not in depends_on
    assert "DefaultPolicy" not in policy_id


def test_command_done_may_complete_tasks_of_every_workflow(synth: Synth) -> None:
    assert not any(COMMAND_DONE_TASK in invoked_tasks(wf) for wf in WORKFLOWS)  # EventBridge invokes it
    policies = role_policies(synth, COMMAND_DONE_TASK)
    resources = {
        json.dumps(r)
        for p in policies.values()
        for s in statements(p)
        if "states:SendTaskSuccess" in actions_of(s)
        for r in resources_of(s)
    }
    assert resources == {json.dumps({"Ref": m}) for m in _machine_ids(synth).values()}


def test_tasks_without_task_callback_cannot_complete_tasks(synth: Synth) -> None:
    for task, spec in TASKS.items():
        if "task-callback" not in spec.grants:
            actions = allowed_actions(role_statements(synth, task))
            assert not any(a.startswith("states:SendTask") for a in actions), task


def test_completion_rule_matches_final_statuses_of_our_documents(synth: Synth) -> None:
    synth.template("control").has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.ssm"],
                "detail-type": ["EC2 Command Invocation Status-change Notification"],
                "detail": {
                    "status": list(FINAL_COMMAND_STATUSES),
                    "document-name": [{"prefix": "FreshTrackOps-"}],
                },
            },
            "Targets": [
                {
                    "Arn": {"Fn::GetAtt": [_completion_function_id(synth), "Arn"]},
                    "Id": Match.any_value(),
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [_queue_id(synth), "Arn"]}},
                }
            ],
        },
    )
    assert set(FINAL_COMMAND_STATUSES) >= {"Success", "Failed", "TimedOut", "Cancelled"}
    assert not {"Pending", "InProgress", "Delayed"} & set(FINAL_COMMAND_STATUSES)
    assert all(document_name(script).startswith("FreshTrackOps-") for script in document_scripts())


def test_eventbridge_may_invoke_the_completion_function(synth: Synth) -> None:
    rule_id = next(
        k
        for k, r in synth.resources("control", "AWS::Events::Rule").items()
        if r["Properties"]["EventPattern"]["source"] == ["aws.ssm"]
    )
    synth.template("control").has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [_completion_function_id(synth), "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_completion_function_retries_async_invocations_then_dead_letters(synth: Synth) -> None:
    (config,) = [
        c
        for c in synth.resources("control", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": _completion_function_id(synth)}
    ]
    props = config["Properties"]
    assert props["MaximumRetryAttempts"] == 2
    assert props["MaximumEventAgeInSeconds"] == 3600
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [_queue_id(synth), "Arn"]}}}


def test_dead_letter_queue_is_encrypted_tls_only_and_alarms(synth: Synth) -> None:
    queue_id = _queue_id(synth)
    queue = synth.control["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    (policy,) = [
        p
        for p in synth.resources("control", "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    found = statements(policy)
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in found
    )
    (send,) = [s for s in found if s["Effect"] == "Allow"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
    assert "aws:SourceArn" in send["Condition"]["ArnEquals"]
    (alarm,) = [
        a["Properties"]
        for a in synth.resources("control", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    topic_id = next(iter(synth.resources("control", "AWS::SNS::Topic")))
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_ssm_host_policy_lets_the_agent_write_command_output_only(synth: Synth) -> None:
    ((policy_id, policy),) = synth.resources("control", "AWS::IAM::ManagedPolicy").items()
    props: dict[str, Any] = policy["Properties"]
    assert "Roles" not in props and "Users" not in props and "Groups" not in props  # operators attach it
    by_sid = {s["Sid"]: s for s in props["PolicyDocument"]["Statement"]}
    assert set(by_sid) == {
        "WriteCommandOutput",
        "OwnCommandOutput",
        "ReadOwnExchangeEc2",
        "ReadOwnExchangeHybrid",
        "ReadBucketEncryption",
        "EncryptCommandOutput",
    }
    bucket = f"${{Import:{synth.config.name}-BackupBucketArn}}"
    # a host reads only the exchange objects written for it: tagged with its own instance ARN, as IAM sees the
    # request (ec2:SourceInstanceARN with instance profile credentials, ssm:SourceInstanceARN for a hybrid node)
    for sid, key in (
        ("ReadOwnExchangeEc2", "ec2:SourceInstanceARN"),
        ("ReadOwnExchangeHybrid", "ssm:SourceInstanceARN"),
    ):
        exchange = by_sid[sid]
        assert actions_of(exchange) == ["s3:GetObject"]
        assert [flatten(r) for r in resources_of(exchange)] == [f"{bucket}/ssm-exchange/hosts/*"]
        assert exchange["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/freshtrack-ops:host": f"${{{key}}}"}}
    # nothing else of the bucket is readable: no backup, no output, no other exchange object
    reads = [
        s
        for s in by_sid.values()
        if any(a.startswith("s3:Get") and a != "s3:GetEncryptionConfiguration" for a in actions_of(s))
    ]
    assert {s["Sid"] for s in reads} == {"ReadOwnExchangeEc2", "ReadOwnExchangeHybrid"}
    write = by_sid["WriteCommandOutput"]
    assert actions_of(write) == ["s3:PutObject"]
    assert [flatten(r) for r in resources_of(write)] == [f"{bucket}/ssm-output/*"]
    assert "Condition" not in write
    # the agent uploads with the canned ACL bucket-owner-full-control: S3 then also authorizes s3:PutObjectAcl,
    # and without it the upload is denied and only the API's first 24,000 characters remain
    acl = by_sid["OwnCommandOutput"]
    assert actions_of(acl) == ["s3:PutObjectAcl"]
    assert [flatten(r) for r in resources_of(acl)] == [f"{bucket}/ssm-output/*"]
    assert acl["Condition"] == {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
    # the agent reads the bucket's default encryption (GetBucketEncryption) to upload with the same SSE-KMS key
    encryption = by_sid["ReadBucketEncryption"]
    assert actions_of(encryption) == ["s3:GetEncryptionConfiguration"]
    assert [flatten(r) for r in resources_of(encryption)] == [bucket]  # a bucket action: the bucket, no objects
    key = by_sid["EncryptCommandOutput"]
    assert set(actions_of(key)) == {"kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"}
    assert [flatten(r) for r in resources_of(key)] == [f"${{Import:{synth.config.name}-DataKeyArn}}"]
    assert flatten(key["Condition"]["StringEquals"]["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
    assert synth.control["Outputs"]["SsmHostPolicyArn"]["Value"] == {"Ref": policy_id}


def test_named_deployment_prefixes_documents_rule_and_settings(
    example_config: DeploymentConfig, tmp_path: Path
) -> None:
    """Another deployment name prefixes the documents; a hybrid (mi-) target is a managed-instance ARN."""
    staging = next(t for t in example_config.targets if t.transport == "ssm")
    hybrid = staging.model_copy(update={"instance_id": "mi-0123456789abcdef0"})
    config = example_config.model_copy(update={"name": "Acme", "targets": (hybrid,), "notification_emails": ()})
    app = build_app(config, outdir=str(tmp_path), context=SKIP_BUNDLING)
    app.synth()  # no cycle, cdk-nag clean
    assert_lint_clean(sorted(tmp_path.glob("*.template.json")))
    control: dict[str, Any] = json.loads((tmp_path / "AcmeControlPlane.template.json").read_text())
    resources = control["Resources"]
    held: dict[str, Any] = json.loads((tmp_path / "AcmeHostDocuments.template.json").read_text())
    documents = sorted(r["Properties"]["Name"] for r in held["Resources"].values() if r["Type"] == "AWS::SSM::Document")
    assert not [r for r in resources.values() if r["Type"] == "AWS::SSM::Document"], "not in the control plane"
    assert documents and all(name.startswith("Acme-FreshTrackOps-") for name in documents)
    (rule,) = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule" and "aws.ssm" in json.dumps(r)]
    assert rule["Properties"]["EventPattern"]["detail"]["document-name"] == [{"prefix": "Acme-FreshTrackOps-"}]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert all(f["Environment"]["Variables"]["SSM_DOCUMENT_PREFIX"] == "Acme-" for f in functions)
    send = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "SendHostCommands"
    ]
    assert send
    for statement in send:
        arns = {flatten(r) for r in resources_of(statement)}
        assert _arn("ssm", "managed-instance/mi-0123456789abcdef0") in arns
        assert not any(":instance/" in arn for arn in arns)
        assert {a for a in arns if ":document/" in a} == {_arn("ssm", f"document/{name}") for name in documents}


def test_a_narrow_grant_next_to_the_broad_one_adds_no_statement() -> None:
    from stacks.function_factory import FunctionResources, grant_statements
    from stacks.storage_stack import StorageRefs

    refs = StorageRefs(
        bucket_name="b", bucket_arn="arn:aws:s3:::b", table_name="t", table_arn="arn:aws:dynamodb:::t",
        key_arn="arn:aws:kms:::k", bucket_arn_export="x",
    )  # fmt: skip
    resources = FunctionResources(
        storage=refs, targets_parameter_arn="p", topic_arn="t", ssh_key_secret_arns=(), document_arns=("d",),
        ssm_instance_arns=(),
    )  # fmt: skip

    def sids(grants: set[str]) -> list[str]:
        return [statement.sid or "" for statement in grant_statements(grants, resources)]

    assert sids({"ssm-commands", "part-url-discard"}) == sids({"ssm-commands"})
    # DeleteObject needs no key; listing the upload's lists comes with a bucket grant, else limited to the prefix
    assert sids({"part-url-discard"}) == ["DiscardPartUrlLists", "ListPartUrlLists"]
    assert "ListPartUrlLists" not in sids({"part-url-discard", "bucket-write"})
    with pytest.raises(ValueError, match="unknown grants"):
        sids({"ssm-everything"})
