"""Storage stack: the backup bucket, its access logs, the ops table, the key."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from freshtrack_ops.config import DeploymentConfig
from stacks.storage_stack import (
    BACKUP_PREFIX,
    DEPLOY_LOG_PREFIX,
    DR_TRANSFER_PREFIX,
    LOGS_ENCRYPTION_CONTEXT,
    REPORT_PREFIX,
    SSM_EXCHANGE_PREFIX,
    SSM_OUTPUT_PREFIX,
    TTL_ATTRIBUTE,
    StorageStack,
    export_name,
)

from .conftest import Synth, flatten

pytestmark = pytest.mark.infra


def _backup_bucket(synth: Synth) -> dict[str, Any]:
    buckets = [
        b
        for b in synth.resources("storage", "AWS::S3::Bucket").values()
        if "LoggingConfiguration" in b["Properties"]  # the access-log bucket is not logged itself
    ]
    assert len(buckets) == 1
    props: dict[str, Any] = buckets[0]["Properties"]
    return props


def test_bucket_is_kms_encrypted_with_the_data_key_and_a_bucket_key(synth: Synth) -> None:
    (rule,) = _backup_bucket(synth)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (key_id,) = synth.resources("storage", "AWS::KMS::Key")
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert rule["BucketKeyEnabled"] is True


def test_key_rotates_and_is_retained(synth: Synth) -> None:
    synth.template("storage").has_resource(
        "AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain"}
    )


def test_every_log_group_is_encrypted_with_the_data_key_which_only_cloudwatch_logs_may_use(synth: Synth) -> None:
    groups = synth.resources("control", "AWS::Logs::LogGroup")
    assert len(groups) > len(synth.resources("control", "AWS::Lambda::Function"))  # functions, workflows, webhook
    for logical_id, group in groups.items():
        key = group["Properties"]["KmsKeyId"]
        assert key == {"Fn::ImportValue": export_name(synth.config.name, "DataKeyArn")}, logical_id
    (key,) = synth.resources("storage", "AWS::KMS::Key").values()
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchLogsEncryptLogGroups"
    ]
    # the CloudWatch Logs user guide's statement: the regional service principal, bound by the encryption context
    # to log groups of this account and region
    assert flatten(statement["Principal"]["Service"]) == "logs.${AWS::Region}.amazonaws.com"
    assert statement["Effect"] == "Allow" and set(statement["Condition"]) == {"ArnLike"}
    context = flatten(statement["Condition"]["ArnLike"][LOGS_ENCRYPTION_CONTEXT])
    assert context == "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"


def test_bucket_is_versioned_private_owner_enforced_and_retained(synth: Synth) -> None:
    props = _backup_bucket(synth)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    for bucket in synth.resources("storage", "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"


def test_lifecycle_expires_unprotected_backups_after_retention_days(synth: Synth) -> None:
    rules = {rule["Id"]: rule for rule in _backup_bucket(synth)["LifecycleConfiguration"]["Rules"]}
    expire = rules["ExpireUnprotectedBackups"]
    assert expire["Prefix"] == BACKUP_PREFIX
    assert expire["TagFilters"] == [{"Key": "retention", "Value": "expiring"}]
    assert expire["ExpirationInDays"] == synth.config.retention_days == 30
    assert "NoncurrentVersionExpiration" not in expire
    noncurrent = rules["ExpireNoncurrentVersions"]
    assert noncurrent["Prefix"] == BACKUP_PREFIX
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert "TagFilters" not in noncurrent and "ExpirationInDays" not in noncurrent
    abort = rules["AbortIncompleteUploads"]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in abort and "TagFilters" not in abort  # bucket-wide: covers the uploads under backups/
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    # nothing else expires current backups: a protected (or pinned) backup is never touched by the lifecycle
    others = [r for r in rules.values() if "ExpirationInDays" in r and r is not expire]
    assert others and all(not BACKUP_PREFIX.startswith(r["Prefix"]) for r in others)
    assert all(not r["Prefix"].startswith(BACKUP_PREFIX) for r in others)


def test_lifecycle_expires_the_ssm_exchange_output_deploy_log_and_dr_transfer_prefixes(synth: Synth) -> None:
    rules = {rule["Id"]: rule for rule in _backup_bucket(synth)["LifecycleConfiguration"]["Rules"]}
    expected = {
        "ExpireSsmExchange": (SSM_EXCHANGE_PREFIX, 1),
        "ExpireSsmOutput": (SSM_OUTPUT_PREFIX, 30),
        "ExpireDeployLogs": (DEPLOY_LOG_PREFIX, 365),
        # the daily reports and saved service logs (a year and a month)
        "ExpireReports": (REPORT_PREFIX, 400),
        # a backstop: the DR workflow deletes every version of a transfer object (the app's secrets) at once
        "ExpireDrTransfer": (DR_TRANSFER_PREFIX, 1),
    }
    for rule_id, (prefix, days) in expected.items():
        rule = rules[rule_id]
        assert rule["Status"] == "Enabled"
        assert rule["Prefix"] == prefix
        assert rule["ExpirationInDays"] == days
        # versioned bucket: the version an expiry (or DeleteObject) leaves behind goes too
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
        assert "TagFilters" not in rule
    # the rules match exactly these prefixes, nothing else
    assert {r["Prefix"] for r in rules.values() if "Prefix" in r} == {
        BACKUP_PREFIX,
        SSM_EXCHANGE_PREFIX,
        SSM_OUTPUT_PREFIX,
        DEPLOY_LOG_PREFIX,
        DR_TRANSFER_PREFIX,
        REPORT_PREFIX,
    }


def test_ssm_prefixes_match_what_the_runtime_uses() -> None:
    import inspect

    from freshtrack_ops.adapters import presign
    from freshtrack_ops.adapters.ssm import SsmCommands

    assert presign.EXCHANGE_PREFIX == SSM_EXCHANGE_PREFIX
    default_output = inspect.signature(SsmCommands.__init__).parameters["output_prefix"].default
    assert f"{default_output.strip('/')}/" == SSM_OUTPUT_PREFIX


def test_deploy_log_prefix_matches_what_the_deploy_step_writes() -> None:
    from freshtrack_ops.steps import update

    assert update.DEPLOY_LOG_PREFIX == DEPLOY_LOG_PREFIX


def test_retention_tag_matches_what_the_store_writes() -> None:
    from freshtrack_ops.retention import tags  # what the store tags backups with
    from stacks import storage_stack

    assert (storage_stack.RETENTION_TAG, storage_stack.EXPIRING) == (tags.RETENTION_TAG, tags.EXPIRING)


def test_every_bucket_denies_plain_http(synth: Synth) -> None:
    policies = synth.resources("storage", "AWS::S3::BucketPolicy")
    assert len(policies) == len(synth.resources("storage", "AWS::S3::Bucket")) == 2
    for policy in policies.values():
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies and denies[0]["Action"] == "s3:*"


def test_table_has_pk_sk_on_demand_pitr_and_kms(synth: Synth) -> None:
    synth.template("storage").has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_table_expires_items_by_the_ttl_attribute(synth: Synth) -> None:
    """DynamoDB deletes expired items only where TTL is enabled, and on ONE attribute per table."""
    (table,) = synth.resources("storage", "AWS::DynamoDB::Table").values()
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert TTL_ATTRIBUTE == "expires_at"


class _RecordingDynamo:
    """A DynamoDB client that keeps every item written (put_item) and accepts everything."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.items.append(kwargs["Item"])
        return {}


def test_every_record_that_should_expire_carries_the_ttl_attribute_in_epoch_seconds() -> None:
    """Pending SSM commands, undo-log entries, restore approvals and host locks all expire through the table's
    one TTL attribute (a lock past its lease is free anyway; TTL only removes the dead item). Catalog items
    never expire."""
    from freshtrack_ops.adapters.approvals import DynamoApprovalStore
    from freshtrack_ops.adapters.dynamo import DynamoCatalog, DynamoLockTable
    from freshtrack_ops.adapters.pending import DynamoPendingCommands, PendingCommand
    from freshtrack_ops.adapters.undo_log import DynamoUndoLog, UndoEntry
    from freshtrack_ops.ports import CatalogEntry
    from freshtrack_ops.restore.approval import request_approval

    now = int(time.time())  # request_approval reads the real clock
    execution = "arn:aws:states:eu-west-1:123456789012:execution:backup:x"
    client = _RecordingDynamo()
    pending = PendingCommand(
        command_id="c" * 36, instance_id="i-0123456789abcdef0", task_token="t", step="dump", host="prod", event="{}",
        execution_id=execution,
    )  # fmt: skip
    DynamoPendingCommands(client, "ops", clock=lambda: now).put(pending)  # type: ignore[arg-type]
    undo = UndoEntry(key="scratch#db", kind="scratch", step="database", host="prod", event="{}")
    DynamoUndoLog(client, "ops", clock=lambda: now).record(execution, undo)  # type: ignore[arg-type]
    DynamoLockTable(client, "ops", clock=lambda: now).acquire("prod", "owner", 3600, "backup")  # type: ignore[arg-type]
    plan = SimpleNamespace(
        execution_id="x", host="prod", database="frostguard", reason="", approval_timeout_s=600,
        backup=SimpleNamespace(backup_id="b", dump_key="k"), safety=SimpleNamespace(backup_id="s"),
    )  # fmt: skip
    store = DynamoApprovalStore(client, "ops")  # type: ignore[arg-type]
    request_approval(SimpleNamespace(plan=plan, task_token="t"), store, None)  # type: ignore[arg-type]
    kinds = {f"{item['pk']['S'].split('#')[0]}/{item['sk']['S'].split('#')[0]}": item for item in client.items}
    assert set(kinds) == {"COMMAND/COMMAND", "EXECUTION/COMMAND", "EXECUTION/UNDO", "LOCK/LOCK", "APPROVAL/APPROVAL"}
    for kind, item in kinds.items():
        value = item[TTL_ATTRIBUTE]
        assert set(value) == {"N"}, kind  # TTL needs a Number in epoch seconds
        assert int(value["N"]) > now, kind
    entry = CatalogEntry(
        host="prod", backup_id="b", dump_key="k", manifest_key="m", size_bytes=1, finished_at="2027-01-01T00:00:00Z"
    )
    client.items.clear()
    DynamoCatalog(client, "ops").record_backup(entry, "{}")  # type: ignore[arg-type]
    assert TTL_ATTRIBUTE not in client.items[0], "a catalog entry must never expire"


def test_local_ops_table_declares_the_same_ttl() -> None:
    """The local plane's table (moto) is created as the storage stack defines it, TTL included."""
    import boto3
    from moto import mock_aws

    from opsctl.local.ops_table import create_ops_table

    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_ops_table(client, "ops")
        ttl = client.describe_time_to_live(TableName="ops")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}


def test_storage_outputs_and_named_exports(synth: Synth) -> None:
    outputs = synth.storage["Outputs"]
    name = synth.config.name
    for output in ("BackupBucketName", "BackupBucketArn", "OpsTableName", "OpsTableArn", "DataKeyArn"):
        assert outputs[output]["Export"] == {"Name": f"{name}-{output}"}


def _storage_only(config: DeploymentConfig) -> Template:
    app = cdk.App(context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
    return Template.from_stack(StorageStack(app, "Storage", config=config))


def test_object_lock_and_retention_follow_the_config(example_config: DeploymentConfig) -> None:
    config = example_config.model_copy(update={"object_lock_days": 14, "retention_days": 45})
    template = _storage_only(config)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "ObjectLockEnabled": True,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 14}},
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"Id": "ExpireUnprotectedBackups", "ExpirationInDays": 45})]
                )
            },
        },
    )


def test_no_object_lock_unless_configured(synth: Synth) -> None:
    assert synth.config.object_lock_days is None
    assert "ObjectLockEnabled" not in _backup_bucket(synth)
