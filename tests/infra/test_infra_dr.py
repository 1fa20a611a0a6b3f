"""Disaster recovery in the control plane: the DR grants' statements and conditions (stacks/dr_grants.py), the
drill schedules and the alarms. Properties, not snapshots: each test reads the statements a role really has."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app import build_app
from freshtrack_ops.config import DeploymentConfig
from freshtrack_ops.dr.models import DR_TAG_KEYS, DisasterRecoveryRequest
from freshtrack_ops.tasks import TASKS
from stacks.names import camel

from .conftest import (
    SKIP_BUNDLING,
    Synth,
    actions_of,
    allowed_actions,
    assert_lint_clean,
    flatten,
    resources_of,
    role_statements,
)
from .known_actions import templates_in, unknown_actions

pytestmark = pytest.mark.infra

EC2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
TEMPLATE_PROD = "lt-0123456789abcdef0"
TEMPLATE_STAGING = "lt-0fedcba9876543210"
ROLE_PROD = "arn:aws:iam::123456789012:role/freshtrack-host"
ROLE_STAGING = "arn:aws:iam::123456789012:role/freshtrack-staging-host"
KEY_DR = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/replacement-key-AbCdEf"
KEY_STANDBY = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/standby-key-AbCdEf"
SSM_STANDBY = "i-0aaaaaaaaaaaaaaaa"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE+wqiO/Mi7dpHKnexPohlfFNe3gOfPRrK2UmhNT33dW"


def dr_variant(config: DeploymentConfig) -> DeploymentConfig:
    """The example with more DR in it: prod provisions over SSH with its own replacement key and has an SSH and an
    SSM standby; staging provisions an SSM replacement (its own template and role) in another zone, record type
    AAAA; the bucket has Object Lock."""
    raw = config.model_dump(mode="json")
    prod, staging = raw["targets"]
    prod["dr"]["private_key_secret_arn"] = KEY_DR
    prod["dr"]["standbys"] = [
        {
            "id": "prod-standby",
            "transport": "ssh",
            "address": "standby.freshtrack.example.com",
            "private_key_secret_arn": KEY_STANDBY,
            "host_public_key": HOST_KEY,
        },
        {"id": "prod-standby-ssm", "transport": "ssm", "instance_id": SSM_STANDBY},
    ]
    staging["dr"] = {
        "launch_template": TEMPLATE_STAGING,
        "instance_role_arn": ROLE_STAGING,
        "hosted_zone_id": "Z9876543210ZYXWVUTSRQ",
        "record_name": "staging-dr.freshtrack.example.com",
        "record_type": "AAAA",
        "app_config_secret_name": "freshtrack/staging/app-config",
    }
    return DeploymentConfig.model_validate(raw | {"object_lock_days": 30})


@pytest.fixture(scope="module")
def dr_synth(example_config: DeploymentConfig, synth_of: Callable[[DeploymentConfig], Synth]) -> Synth:
    # cdk-nag: every DR wildcard is acknowledged with its reason here too (synth_of: one synth of the variant for
    # this module, the acknowledgements' test and the template sizes)
    return synth_of(dr_variant(example_config))


def by_sid(synth: Synth, task: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for statement in role_statements(synth, task):
        if "Sid" in statement:
            assert statement["Sid"] not in found, statement["Sid"]
            found[statement["Sid"]] = statement
    return found


def texts(values: Any) -> set[str]:
    return {flatten(v) for v in (values if isinstance(values, list) else [values])}


def test_the_dr_variant_passes_cdk_nag_and_cfn_lint(dr_synth: Synth) -> None:
    assert_lint_clean(sorted(dr_synth.outdir.glob("*.template.json")))


# -- ec2-replacement ---------------------------------------------------------------------------------------------
def test_run_instances_only_from_the_configured_templates_and_only_tagged_as_a_dr(dr_synth: Synth) -> None:
    statements = by_sid(dr_synth, "DrReplacement")
    templates = {f"{EC2}:launch-template/{TEMPLATE_PROD}", f"{EC2}:launch-template/{TEMPLATE_STAGING}"}
    launch = [s for s in statements.values() if "ec2:RunInstances" in actions_of(s)]
    assert {s["Sid"] for s in launch} == {
        "LaunchFromConfiguredTemplates",
        "LaunchWithTemplateResources",
        "LaunchTaggedReplacements",
    }
    for statement in launch:
        assert actions_of(statement) == ["ec2:RunInstances"]
        if statement["Sid"] == "LaunchFromConfiguredTemplates":
            assert texts(statement["Resource"]) == templates  # the templates themselves, by id
            assert "Condition" not in statement
        else:  # everything else only when launched from one of them
            assert texts(statement["Condition"]["ArnEquals"]["ec2:LaunchTemplate"]) == templates
    assert texts(statements["LaunchWithTemplateResources"]["Resource"]) == {
        "arn:${AWS::Partition}:ec2:${AWS::Region}::image/*",  # AMIs have no account in their ARN
        f"{EC2}:subnet/*",
        f"{EC2}:security-group/*",
        f"{EC2}:network-interface/*",
        f"{EC2}:key-pair/*",
    }
    tagged = statements["LaunchTaggedReplacements"]
    assert texts(tagged["Resource"]) == {f"{EC2}:instance/*", f"{EC2}:volume/*"}
    condition = tagged["Condition"]
    assert condition["StringLike"] == {"aws:RequestTag/freshtrack-ops:dr-id": "dr-*"}
    assert condition["StringEquals"] == {"aws:RequestTag/freshtrack-ops:host": ["prod", "staging"]}
    assert condition["ForAllValues:StringEquals"] == {"aws:TagKeys": list(DR_TAG_KEYS)}


def test_tags_only_at_launch_console_of_dr_instances_terminate_only_drills(dr_synth: Synth) -> None:
    statements = by_sid(dr_synth, "DrReplacement")
    tag = statements["TagReplacementsAtLaunch"]
    assert actions_of(tag) == ["ec2:CreateTags"]
    assert texts(tag["Resource"]) == {f"{EC2}:instance/*", f"{EC2}:volume/*"}
    assert tag["Condition"] == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
    console = statements["ReadReplacementConsoles"]
    assert (actions_of(console), texts(console["Resource"])) == (["ec2:GetConsoleOutput"], {f"{EC2}:instance/*"})
    assert console["Condition"] == {"StringLike": {"aws:ResourceTag/freshtrack-ops:dr-id": "dr-*"}}
    terminate = statements["TerminateDrillReplacements"]
    assert (actions_of(terminate), texts(terminate["Resource"])) == (["ec2:TerminateInstances"], {f"{EC2}:instance/*"})
    assert terminate["Condition"] == {
        "StringLike": {"aws:ResourceTag/freshtrack-ops:dr-id": "dr-*"},
        "StringEquals": {"aws:ResourceTag/freshtrack-ops:mode": "drill"},
    }
    follow = statements["FollowReplacements"]
    assert set(actions_of(follow)) == {"ec2:DescribeInstances", "ssm:DescribeInstanceInformation"}
    assert follow["Resource"] == "*"
    # nothing else of EC2: no StartInstances, no ModifyInstanceAttribute, no CreateTags outside a launch
    ec2 = {a for s in statements.values() for a in actions_of(s) if a.startswith("ec2:")}
    assert ec2 == {
        "ec2:RunInstances",
        "ec2:CreateTags",
        "ec2:GetConsoleOutput",
        "ec2:TerminateInstances",
        "ec2:DescribeInstances",
    }


def test_pass_role_names_exactly_the_configured_instance_roles_for_ec2(dr_synth: Synth) -> None:
    pass_role = by_sid(dr_synth, "DrReplacement")["PassInstanceRoles"]
    assert actions_of(pass_role) == ["iam:PassRole"]
    assert set(resources_of(pass_role)) == {ROLE_PROD, ROLE_STAGING}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_only_the_replacement_task_launches_terminates_or_passes_roles(synth: Synth) -> None:
    for task in TASKS:
        actions = allowed_actions(role_statements(synth, task))
        risky = {a for a in actions if a.startswith(("ec2:", "iam:"))}
        if task == "LockJanitor":
            # an aborted drill's server: found by its tag and terminated, nothing else (drill-cleanup)
            assert risky == {"ec2:DescribeInstances", "ec2:TerminateInstances"}, risky
            continue
        if task in ("MaintenanceValidate", "ScaleInstance"):
            # the scale workflow: describe, and stop/start/resize the scalable instances (test_infra_maintenance)
            assert risky <= {"ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances",
                             "ec2:ModifyInstanceAttribute"}, risky  # fmt: skip
            continue
        assert not risky or task == "DrReplacement", (task, risky)


def test_the_janitor_terminates_only_drill_servers(synth: Synth) -> None:
    statements = by_sid(synth, "LockJanitor")
    terminate = statements["TerminateDrillReplacements"]
    assert actions_of(terminate) == ["ec2:TerminateInstances"]
    assert terminate["Condition"]["StringEquals"] == {"aws:ResourceTag/freshtrack-ops:mode": "drill"}


# -- route53-record ----------------------------------------------------------------------------------------------
def test_dns_upserts_only_the_configured_record_of_each_zone(dr_synth: Synth) -> None:
    statements = by_sid(dr_synth, "DrDns")
    prefix = "route53:ChangeResourceRecordSets"
    expected = {
        "UpsertRecordsZ0123456789ABCDEFGHIJA": ("Z0123456789ABCDEFGHIJ", "freshtrack.example.com", "A"),
        "UpsertRecordsZ9876543210ZYXWVUTSRQAAAA": (
            "Z9876543210ZYXWVUTSRQ",
            "staging-dr.freshtrack.example.com",
            "AAAA",
        ),
    }
    changes = {sid: s for sid, s in statements.items() if prefix in actions_of(s)}
    assert set(changes) == set(expected)
    for sid, (zone, name, record_type) in expected.items():
        statement = changes[sid]
        assert actions_of(statement) == [prefix]
        assert texts(statement["Resource"]) == {f"arn:${{AWS::Partition}}:route53:::hostedzone/{zone}"}
        assert statement["Condition"]["ForAllValues:StringEquals"] == {
            f"{prefix}NormalizedRecordNames": [name],
            f"{prefix}RecordTypes": [record_type],
            f"{prefix}Actions": ["UPSERT"],
        }
        # ForAllValues is true for a missing key: the three must be present
        assert statement["Condition"]["Null"] == {
            f"{prefix}NormalizedRecordNames": "false",
            f"{prefix}RecordTypes": "false",
            f"{prefix}Actions": "false",
        }
    get_change = statements["FollowDnsChanges"]
    assert actions_of(get_change) == ["route53:GetChange"]
    assert texts(get_change["Resource"]) == {"arn:${AWS::Partition}:route53:::change/*"}
    assert {a for s in statements.values() for a in actions_of(s) if a.startswith("route53:")} == {
        prefix,
        "route53:GetChange",
    }
    for task in set(TASKS) - {"DrDns"}:
        assert not any(a.startswith("route53:") for a in allowed_actions(role_statements(dr_synth, task))), task


# -- app-config-read / app-config-write --------------------------------------------------------------------------
SECRETS = {
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:freshtrack/prod/app-config-??????",
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:freshtrack/staging/app-config-??????",
}


def test_bootstrap_reads_and_capture_writes_the_app_config_secrets_only(dr_synth: Synth) -> None:
    read = by_sid(dr_synth, "DrBootstrap")
    write = by_sid(dr_synth, "DrCaptureConfig")
    assert (actions_of(read["ReadAppConfig"]), texts(read["ReadAppConfig"]["Resource"])) == (
        ["secretsmanager:GetSecretValue"],
        SECRETS,
    )
    assert (actions_of(write["WriteAppConfig"]), texts(write["WriteAppConfig"]["Resource"])) == (
        ["secretsmanager:PutSecretValue"],
        SECRETS,
    )
    assert "WriteAppConfig" not in read and "ReadAppConfig" not in write  # the capture never reads the secret
    for task in TASKS:
        named = [s for s in role_statements(dr_synth, task) if "app-config" in json.dumps(s)]
        # HostCommandDone: over SSM the capture's finish (reading the transfer object, writing the secret) runs there
        assert not named or task in {"DrBootstrap", "DrCaptureConfig", "HostCommandDone"}, task


@pytest.mark.parametrize("which", ["example", "object-lock"])
def test_transfer_objects_are_deleted_version_by_version_bypassing_only_with_object_lock(
    synth: Synth, dr_synth: Synth, which: str
) -> None:
    chosen = dr_synth if which == "object-lock" else synth
    bucket = f"${{Import:{chosen.config.name}-BackupBucketArn}}"
    for task in ("DrBootstrap", "DrCaptureConfig"):
        statements = by_sid(chosen, task)
        objects = statements["DrTransferObjects"]
        assert texts(objects["Resource"]) == {f"{bucket}/dr-transfer/*"}
        expected = {"s3:PutObject", "s3:GetObject", "s3:DeleteObjectVersion"}
        if which == "object-lock":
            expected.add("s3:BypassGovernanceRetention")
        assert set(actions_of(objects)) == expected
        listing = statements["ListDrTransferVersions"]
        assert (actions_of(listing), texts(listing["Resource"])) == (["s3:ListBucketVersions"], {bucket})
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["dr-transfer/*"]}}
        assert {"kms:GenerateDataKey", "kms:Decrypt"} <= set(actions_of(statements["DataKey"]))
    for task in set(TASKS) - {"DrBootstrap", "DrCaptureConfig", "HostCommandDone"}:
        assert "dr-transfer" not in json.dumps(role_statements(chosen, task)), task


# -- what DR adds to targets, ssh-keys and ssm-commands ------------------------------------------------------------
def test_targets_read_only_the_servers_partition_of_the_table(synth: Synth) -> None:
    table = f"${{Import:{synth.config.name}-OpsTableArn}}"
    readers = [t for t, spec in TASKS.items() if "targets" in spec.grants and "table" not in spec.grants]
    assert "DrDns" in readers
    for task in readers:
        statements = by_sid(synth, task)
        servers = statements["ReadServers"]
        assert set(actions_of(servers)) == {"dynamodb:GetItem", "dynamodb:Query"}
        assert texts(servers["Resource"]) == {table}
        assert servers["Condition"] == {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["SERVERS"]},
            "Null": {"dynamodb:LeadingKeys": "false"},
        }
        dynamo = [s for s in statements.values() if any(a.startswith("dynamodb:") for a in actions_of(s))]
        assert dynamo == [servers], task


def test_ssh_keys_include_the_replacement_and_standby_keys(dr_synth: Synth) -> None:
    target_key = dr_synth.config.targets[0].model_dump()["private_key_secret_arn"]
    for task, spec in TASKS.items():
        if "ssh-keys" in spec.grants:
            keys = by_sid(dr_synth, task)["ReadSshKeys"]
            assert set(resources_of(keys)) == {target_key, KEY_DR, KEY_STANDBY}, task


def test_host_tasks_may_command_ssm_standbys_and_replacements_tagged_as_a_dr(synth: Synth, dr_synth: Synth) -> None:
    for task, spec in TASKS.items():
        if "ssm-commands" not in spec.grants:
            continue
        statements = by_sid(dr_synth, task)
        assert f"{EC2}:instance/{SSM_STANDBY}" in texts(statements["SendHostCommands"]["Resource"])
        replacements = statements["SendHostCommandsToReplacements"]
        assert (actions_of(replacements), texts(replacements["Resource"])) == (
            ["ssm:SendCommand"],
            {f"{EC2}:instance/*"},
        )
        assert replacements["Condition"] == {"StringLike": {"ssm:resourceTag/freshtrack-ops:dr-id": "dr-*"}}
        # the example provisions over SSH only: no SSM replacement, no such statement
        assert "SendHostCommandsToReplacements" not in by_sid(synth, task)


# -- synth-time refusals -----------------------------------------------------------------------------------------
def _with_prod_dr(config: DeploymentConfig, **changes: Any) -> DeploymentConfig:
    raw = config.model_dump(mode="json")
    raw["targets"][0]["dr"] |= changes
    raw["targets"][0]["dr"] = {k: v for k, v in raw["targets"][0]["dr"].items() if v is not None}
    return DeploymentConfig.model_validate(raw)


def test_a_launch_template_name_is_refused_at_synth(example_config: DeploymentConfig, tmp_path: Path) -> None:
    config = _with_prod_dr(example_config, launch_template="freshtrack-prod")
    with pytest.raises(ValueError, match=r"targets\.prod\.dr\.launch_template: 'freshtrack-prod' is a name"):
        build_app(config, outdir=str(tmp_path), context=SKIP_BUNDLING)


def test_a_drill_schedule_without_a_launch_template_is_refused(
    example_config: DeploymentConfig, tmp_path: Path
) -> None:
    config = _with_prod_dr(example_config, launch_template=None, instance_role_arn=None)
    with pytest.raises(ValueError, match=r"targets\.prod\.dr\.drill_schedule: a scheduled drill provisions"):
        build_app(config, outdir=str(tmp_path), context=SKIP_BUNDLING)


# -- schedules and alarms -----------------------------------------------------------------------------------------
def test_drill_schedules_start_a_drill_of_their_target_only(synth: Synth) -> None:
    machine = synth.control["Outputs"][f"{camel('disaster-recovery')}StateMachineArn"]["Value"]
    schedules = [
        s["Properties"]
        for s in synth.resources("control", "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == machine
    ]
    expected = {t.id: t.dr.drill_schedule for t in synth.config.targets if t.dr and t.dr.drill_schedule}
    assert expected == {"prod": "cron(0 5 ? * 2#1 *)"}
    assert {json.loads(s["Target"]["Input"])["host"]: s["ScheduleExpression"] for s in schedules} == expected
    for schedule in schedules:
        request = DisasterRecoveryRequest.model_validate_json(schedule["Target"]["Input"])
        assert (request.mode, request.replacement, request.backup_id, request.confirm) == (
            "drill",
            "provision",
            "latest-verified",
            None,
        )
        assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"


def _alarms(synth: Synth) -> list[dict[str, Any]]:
    return [a["Properties"] for a in synth.resources("control", "AWS::CloudWatch::Alarm").values()]


def test_a_failed_drill_alarms_the_topic_per_target(dr_synth: Synth) -> None:
    topic = {"Ref": next(iter(dr_synth.resources("control", "AWS::SNS::Topic")))}
    drills = [a for a in _alarms(dr_synth) if a.get("MetricName") == "DrDrillsFailed"]
    by_host = {next(d["Value"] for d in a["Dimensions"] if d["Name"] == "host"): a for a in drills}
    assert set(by_host) == {t.id for t in dr_synth.config.targets if t.dr is not None} == {"prod", "staging"}
    for alarm in by_host.values():
        assert alarm["Namespace"] == "FreshTrackOps"  # the functions' POWERTOOLS_METRICS_NAMESPACE
        # Powertools adds the service dimension to every metric it emits
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]}["service"] == "freshtrack-ops"
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            0,
            "GreaterThanThreshold",
        )
        assert alarm["TreatMissingData"] == "notBreaching"  # monthly drills: silence is normal
        assert alarm["AlarmActions"] == [topic]


def test_a_failed_disaster_recovery_execution_alarms_the_topic(synth: Synth) -> None:
    topic = {"Ref": next(iter(synth.resources("control", "AWS::SNS::Topic")))}
    machine = synth.control["Outputs"][f"{camel('disaster-recovery')}StateMachineArn"]["Value"]
    # one per workflow that alarms on its failures (the remediation's: tests/infra/test_infra_webhook.py)
    failed = [
        a
        for a in _alarms(synth)
        if a.get("MetricName") == "ExecutionsFailed"
        and {"Name": "StateMachineArn", "Value": machine} in a["Dimensions"]
    ]
    (alarm,) = failed
    assert alarm["Namespace"] == "AWS/States"
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [topic]


def test_capture_schedules_keep_each_dr_targets_app_config_current(synth: Synth) -> None:
    from freshtrack_ops.dr.models import CaptureConfigRequest

    machine = synth.control["Outputs"][f"{camel('capture-config')}StateMachineArn"]["Value"]
    schedules = [
        s["Properties"]
        for s in synth.resources("control", "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == machine
    ]
    expected = {t.id: t.dr.capture_schedule for t in synth.config.targets if t.dr and t.dr.capture_schedule}
    assert expected == {"prod": "cron(30 2 * * ? *)"}  # the default: daily, after the default 02:00 backup
    assert {json.loads(s["Target"]["Input"])["host"]: s["ScheduleExpression"] for s in schedules} == expected
    for schedule in schedules:
        CaptureConfigRequest.model_validate_json(schedule["Target"]["Input"])


def test_dr_templates_name_only_known_iam_actions(dr_synth: Synth) -> None:
    """The DR grants (EC2, Route 53, SSM, Secrets Manager) name only actions that exist."""
    assert unknown_actions(templates_in(dr_synth.outdir)) == []
