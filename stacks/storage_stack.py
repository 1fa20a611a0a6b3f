"""Stateful resources: the data key, the backup bucket (+ its access-log bucket) and the ops table.

Everything here is retained when the stack is deleted: backups and the catalog outlive the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from freshtrack_ops.config import DeploymentConfig
from stacks.nag import skip_checkov

#: every backup object (dump + manifest) lives under this prefix; IAM and the lifecycle are scoped to it
BACKUP_PREFIX = "backups/"
#: the lifecycle expires only objects tagged retention=expiring; the retention task re-tags the backups to keep
#: (docs/retention.md; the same values as freshtrack_ops.adapters.s3_store, checked by tests/infra)
RETENTION_TAG = "retention"
EXPIRING = "expiring"
NONCURRENT_VERSION_DAYS = 7
#: the SSM data path's lists of presigned part URLs (``adapters/presign.py`` EXCHANGE_PREFIX): bearer credentials
#: for a few hours, useless after the upload, so they go after a day
SSM_EXCHANGE_PREFIX = "ssm-exchange/"
SSM_EXCHANGE_DAYS = 1
#: where the SSM agent writes the complete stdout/stderr of every command (``adapters/ssm.py`` output_prefix)
SSM_OUTPUT_PREFIX = "ssm-output/"
SSM_OUTPUT_DAYS = 30
#: a replaced or deleted exchange/output object is not worth keeping as a noncurrent version
SSM_NONCURRENT_DAYS = 1
ACCESS_LOG_DAYS = 365
ACCESS_LOG_NONCURRENT_DAYS = 90
#: scripts/deploy-automated.sh's output of each update (``steps/update.py`` DEPLOY_LOG_PREFIX): a year of them
DEPLOY_LOG_PREFIX = "deploy-logs/"
DEPLOY_LOG_DAYS = 365
#: the daily check's reports (``reports/<host>/daily/<date>.json|.html``) and the service workflow's saved logs
#: (``reports/<host>/logs/...``): a year and a month, so a year-on-year comparison still finds last year's day
REPORT_PREFIX = "reports/"
REPORT_DAYS = 400
#: disaster recovery moves a host's app configuration (.env.production, secrets/) between the app-config secret and
#: the host through one object here per transfer (SSM path), deleted with every version right after
#: (stacks/dr_grants.py, app_config_statements); the lifecycle removes what a failed run left, a day later
DR_TRANSFER_PREFIX = "dr-transfer/"
DR_TRANSFER_DAYS = 1
#: the ops table's one TTL attribute (DynamoDB allows a single one per table): epoch seconds after which DynamoDB
#: may delete the item. Pending SSM commands (``adapters/pending.py``), undo-log entries (``adapters/undo_log.py``),
#: restore approvals (``restore/approval.py``) and host locks (``adapters/dynamo.py``, the lease end: an expired
#: lock is free anyway) all write it; catalog items never do. The local plane's table declares the same
#: (``opsctl/local/ops_table.py``).
TTL_ATTRIBUTE = "expires_at"
#: the encryption context CloudWatch Logs binds to every use of a log group's KMS key (the log group's ARN)
LOGS_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:logs:arn"


class DataKey(Construct):
    """The customer-managed KMS key of the deployment (bucket, table, notification topic, log groups)."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{name}: backups, ops table and notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the KMS-encrypted notification topic
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        # The control plane's log groups are encrypted with this key (KmsKeyId). CloudWatch Logs uses the key as
        # the regional service principal, and only where the key policy lets it: the statement of the CloudWatch
        # Logs user guide ("Encrypt log data in CloudWatch Logs using AWS KMS", step 2), its encryption context
        # condition limiting it to log groups of this account and region. Log groups whose names CloudFormation
        # generates cannot be named more narrowly here.
        stack = Stack.of(self)
        log_groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {LOGS_ENCRYPTION_CONTEXT: log_groups}},
            )
        )


class BackupBucket(Construct):
    """The backup store: SSE-KMS, versioned, TLS only, private, lifecycle-managed, optional Object Lock."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging can only deliver to SSE-S3 buckets (not SSE-KMS)
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # versioned (checkov CKV_AWS_21): a deleted or overwritten log object is kept as a noncurrent version
            # for ACCESS_LOG_NONCURRENT_DAYS, so the record of who read or deleted backups survives a careless or
            # hostile delete for that long
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(ACCESS_LOG_DAYS),
                    noncurrent_version_expiration=Duration.days(ACCESS_LOG_NONCURRENT_DAYS),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # no AwsSolutions-S1 finding here: cdk-nag recognises a server-access-log destination bucket; checkov does not
        cfn_access_logs = self.access_logs.node.default_child
        assert isinstance(cfn_access_logs, s3.CfnBucket)
        skip_checkov(
            cfn_access_logs,
            "CKV_AWS_18",
            "This bucket is the server-access-log destination of the backup bucket. Logging it in turn needs another "
            "bucket, whose own logs need another (S3 user guide: do not make a bucket its own log destination, "
            "it loops); the backup bucket's access is what is audited, and this bucket only receives its log objects.",
        )

        lock: dict[str, Any] = {}
        if config.object_lock_days is not None:
            lock = {
                "object_lock_enabled": True,
                "object_lock_default_retention": s3.ObjectLockRetention.governance(
                    Duration.days(config.object_lock_days)
                ),
            }
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="backup-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireUnprotectedBackups",
                    prefix=BACKUP_PREFIX,
                    tag_filters={RETENTION_TAG: EXPIRING},
                    expiration=Duration.days(config.retention_days),
                ),
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    prefix=BACKUP_PREFIX,
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(
                    # bucket-wide, so it covers the multipart uploads under backups/ (SSH and SSM data paths)
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # the bucket is versioned: expiring the current version leaves a noncurrent one (and a delete
                # marker, which S3 removes once it is the last version), so both rules expire those as well
                s3.LifecycleRule(
                    id="ExpireSsmExchange",
                    prefix=SSM_EXCHANGE_PREFIX,
                    expiration=Duration.days(SSM_EXCHANGE_DAYS),
                    noncurrent_version_expiration=Duration.days(SSM_NONCURRENT_DAYS),
                ),
                s3.LifecycleRule(
                    id="ExpireReports",
                    prefix=REPORT_PREFIX,
                    expiration=Duration.days(REPORT_DAYS),
                    noncurrent_version_expiration=Duration.days(SSM_NONCURRENT_DAYS),
                ),
                s3.LifecycleRule(
                    id="ExpireDeployLogs",
                    prefix=DEPLOY_LOG_PREFIX,
                    expiration=Duration.days(DEPLOY_LOG_DAYS),
                    noncurrent_version_expiration=Duration.days(SSM_NONCURRENT_DAYS),
                ),
                s3.LifecycleRule(
                    # a backstop: the workflow deletes every version of a transfer object as soon as it is used.
                    # With Object Lock a version still under retention is kept until its retention ends (S3
                    # deletes no locked version, lifecycle included): then the noncurrent rule removes it.
                    id="ExpireDrTransfer",
                    prefix=DR_TRANSFER_PREFIX,
                    expiration=Duration.days(DR_TRANSFER_DAYS),
                    noncurrent_version_expiration=Duration.days(DR_TRANSFER_DAYS),
                ),
                s3.LifecycleRule(
                    id="ExpireSsmOutput",
                    prefix=SSM_OUTPUT_PREFIX,
                    expiration=Duration.days(SSM_OUTPUT_DAYS),
                    noncurrent_version_expiration=Duration.days(SSM_NONCURRENT_DAYS),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
            **lock,
        )


class OpsTable(Construct):
    """One DynamoDB table (pk/sk) for the host locks, the backup catalog, pending SSM commands and approvals.

    TTL is on ``TTL_ATTRIBUTE``: DynamoDB deletes expired items only where TTL is enabled on the attribute they
    carry, so records that outlive their use (a completion that never came, an unanswered approval) go away.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )


@dataclass(frozen=True)
class StorageRefs:
    """The storage stack as the control plane sees it: values of named exports (``Fn::ImportValue``).

    Named exports (instead of CDK's generated cross-stack references) keep the contract between the two
    stacks explicit and stable, and make cdk-nag findings on them deterministic.
    """

    bucket_name: str
    bucket_arn: str
    table_name: str
    table_arn: str
    key_arn: str
    #: export name of ``bucket_arn`` (cdk-nag names imported values by their export name)
    bucket_arn_export: str


def export_name(deployment: str, what: str) -> str:
    return f"{deployment}-{what}"


class StorageStack(Stack):
    """Key, backup bucket and ops table; the control-plane stack imports them through named exports."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = DataKey(self, "DataKey", name=config.name).key
        backups = BackupBucket(self, "Backups", key=self.key, config=config)
        self.bucket = backups.bucket
        self.table = OpsTable(self, "Ops", key=self.key).table

        outputs = {
            "BackupBucketName": (self.bucket.bucket_name, "Backup bucket"),
            "BackupBucketArn": (self.bucket.bucket_arn, "Backup bucket ARN"),
            "OpsTableName": (self.table.table_name, "Locks and backup catalog"),
            "OpsTableArn": (self.table.table_arn, "Locks and backup catalog ARN"),
            "DataKeyArn": (self.key.key_arn, "KMS key of bucket, table and topic"),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(
                self, output_id, value=value, description=description, export_name=export_name(config.name, output_id)
            )

        def imported(what: str) -> str:
            return Fn.import_value(export_name(config.name, what))

        self.refs = StorageRefs(
            bucket_name=imported("BackupBucketName"),
            bucket_arn=imported("BackupBucketArn"),
            table_name=imported("OpsTableName"),
            table_arn=imported("OpsTableArn"),
            key_arn=imported("DataKeyArn"),
            bucket_arn_export=export_name(config.name, "BackupBucketArn"),
        )
