"""The one Lambda asset (bundled without Docker) and the factory that turns a ``LambdaTask`` into a function.

Every function gets: Python 3.12 on x86_64, active tracing, its own log group with retention, the shared
environment, timeout/memory from the task, and a dedicated role whose statements are derived from
``task.grants`` only (no managed policies, no ``grant_*`` helpers that widen scope).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from freshtrack_ops.tasks import LambdaTask
from stacks.nag import acknowledge
from stacks.storage_stack import BACKUP_PREFIX, StorageRefs

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
PACKAGE = "freshtrack_ops"
REQUIREMENTS = REPO_ROOT / "requirements-lambda.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_12
PYTHON_VERSION = "3.12"
ARCHITECTURE = lambda_.Architecture.X86_64
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
#: what a ``LambdaTask.grants`` entry may name (an unknown grant fails synth rather than granting nothing)
KNOWN_GRANTS = frozenset(
    {"targets", "ssh-keys", "bucket-read", "bucket-write", "bucket-tags", "table", "notify", "start-test-restore"}
)
#: grants that need a resource created after the functions (granted by the control plane stack)
LATE_GRANTS = frozenset({"start-test-restore"})
BUCKET_GRANTS = frozenset({"bucket-read", "bucket-write"})

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
    "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

_IGNORED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def pip_command(output_dir: str) -> list[str]:
    """pip install of the runtime dependencies as Lambda (manylinux x86_64, CPython 3.12) needs them."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install",
        "--only-binary=:all:", *platforms,
        "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--no-compile", "--disable-pip-version-check", "--quiet",
        "-r", str(REQUIREMENTS), "-t", output_dir,
    ]  # fmt: skip


def _source_files() -> list[Path]:
    return sorted(
        path
        for path in (FUNCTIONS_DIR / PACKAGE).rglob("*")
        if path.is_file() and not _IGNORED_PARTS.intersection(path.parts) and path.suffix != ".pyc"
    )


def asset_hash() -> str:
    """Hash of what goes into the asset: our package, the pinned requirements and the pip command line."""
    digest = hashlib.sha256()
    digest.update(" ".join(pip_command("<out>")[1:]).encode())
    digest.update(REQUIREMENTS.read_bytes())
    for path in _source_files():
        digest.update(str(path.relative_to(FUNCTIONS_DIR)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the asset on this machine (no Docker): manylinux wheels + a copy of ``freshtrack_ops``.

    Failures raise: returning False would make CDK fall back to Docker with a misleading error.
    """

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        result = subprocess.run(pip_command(output_dir), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"bundling the Lambda asset failed: pip exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        shutil.copytree(
            FUNCTIONS_DIR / PACKAGE,
            Path(output_dir) / PACKAGE,
            ignore=shutil.ignore_patterns(*_IGNORED_PARTS, "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def lambda_code() -> lambda_.Code:
    """The one asset of every task function; create it once per stack and share it."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(),
        bundling=BundlingOptions(
            image=DockerImage.from_registry(f"python:{PYTHON_VERSION}"),
            local=PipLocalBundling(),
        ),
    )


@dataclass(frozen=True)
class FunctionResources:
    """What task roles may be granted access to (see ``LambdaTask.grants``)."""

    storage: StorageRefs
    targets_parameter_arn: str
    topic_arn: str
    ssh_key_secret_arns: tuple[str, ...]

    def backup_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{BACKUP_PREFIX}*"


def grant_statements(grants: Iterable[str], resources: FunctionResources) -> list[iam.PolicyStatement]:
    """The least-privilege statements of one task role, derived from its grants."""
    grants = frozenset(grants)
    unknown = grants - KNOWN_GRANTS
    if unknown:
        raise ValueError(f"unknown grants {sorted(unknown)} (known: {sorted(KNOWN_GRANTS)})")
    statements: list[iam.PolicyStatement] = []
    kms_actions: set[str] = set()
    if "targets" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="ReadTargets",
                actions=["ssm:GetParameter"],
                resources=[resources.targets_parameter_arn],
            )
        )
    if "ssh-keys" in grants and resources.ssh_key_secret_arns:
        statements.append(
            iam.PolicyStatement(
                sid="ReadSshKeys",
                actions=["secretsmanager:GetSecretValue"],
                resources=sorted(resources.ssh_key_secret_arns),
            )
        )
    if "bucket-write" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="BackupObjects",
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    # objects are written with the tag retention=expiring (Tagging on Put/CreateMultipartUpload);
                    # an overwritten manifest keeps its tag, which is read first
                    "s3:PutObjectTagging",
                    "s3:GetObjectTagging",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[resources.backup_objects_arn()],
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="ListBackups",
                actions=["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[resources.storage.bucket_arn],
            )
        )
        kms_actions |= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
    elif "bucket-read" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="ReadBackupObjects",
                actions=["s3:GetObject"],
                resources=[resources.backup_objects_arn()],
            )
        )
        statements.append(
            iam.PolicyStatement(
                # without ListBucket a missing key answers 403 instead of 404 (BackupNotFound)
                sid="ListBackups",
                actions=["s3:ListBucket"],
                resources=[resources.storage.bucket_arn],
            )
        )
        kms_actions |= {"kms:Decrypt"}
    if "bucket-tags" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="BackupTags",
                actions=["s3:GetObjectTagging", "s3:PutObjectTagging"],
                resources=[resources.backup_objects_arn()],
            )
        )
        if not grants & BUCKET_GRANTS:
            statements.append(
                iam.PolicyStatement(
                    # without ListBucket a missing key answers 403, which must never be taken for "expired"
                    sid="ListBackups",
                    actions=["s3:ListBucket"],
                    resources=[resources.storage.bucket_arn],
                )
            )
    if "table" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="OpsTable",
                actions=[
                    "dynamodb:PutItem",
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                resources=[resources.storage.table_arn],
            )
        )
        kms_actions |= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    if "notify" in grants:
        statements.append(iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[resources.topic_arn]))
        kms_actions |= {"kms:Decrypt", "kms:GenerateDataKey"}
    if kms_actions:
        statements.append(
            iam.PolicyStatement(sid="DataKey", actions=sorted(kms_actions), resources=[resources.storage.key_arn])
        )
    return statements


class TaskFunction(Construct):
    """One task function with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        task: LambdaTask,
        code: lambda_.Code,
        environment: Mapping[str, str],
        resources: FunctionResources,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"FreshTrack Ops task {task.name}: {', '.join(sorted(task.grants)) or 'no data access'}",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        for statement in grant_statements(task.grants, resources):
            self.role.add_to_policy(statement)

        self.function = lambda_.Function(
            self,
            "Function",
            description=task.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=task.handler,
            code=code,
            timeout=Duration.seconds(task.timeout_s),
            memory_size=task.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment=dict(environment),
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (added by tracing ACTIVE) support no resource-level "
            "permissions; every other statement of this role names its resources.",
        )
        if task.grants & (BUCKET_GRANTS | {"bucket-tags"}):
            acknowledge(
                self,
                # cdk-nag names an Fn::ImportValue by its export name
                f"AwsSolutions-IAM5[Resource::{resources.storage.bucket_arn_export}/{BACKUP_PREFIX}*]",
                "Object actions are scoped to the backups/ prefix; backup object keys are generated per backup "
                "(backups/<host>/<yyyy>/<mm>/<dd>/<id>.dump), so the key part must be a wildcard.",
            )
        if RUNTIME.name != lambda_.Runtime.determine_latest_python_runtime(self).name:
            acknowledge(
                self,
                "AwsSolutions-L1",
                "Pinned to python3.12: the asset's binary wheels (pydantic-core, psycopg-binary, cryptography) "
                "are bundled for cp312; moving runtimes is a deliberate change with a rebundle and tests.",
            )


class FunctionFactory:
    """Creates one ``TaskFunction`` per catalog task, all sharing one code asset."""

    def __init__(self, scope: Construct, *, environment: Mapping[str, str], resources: FunctionResources) -> None:
        self._scope = scope
        self._code = lambda_code()
        self._environment = {**POWERTOOLS_ENV, **environment}
        self._resources = resources

    def create(self, task: LambdaTask) -> TaskFunction:
        return TaskFunction(
            self._scope,
            task.name,
            task=task,
            code=self._code,
            environment=self._environment,
            resources=self._resources,
        )
