"""The one Lambda asset (bundled without Docker) and the factory that turns a ``LambdaTask`` into a function.

Every function gets: Python 3.12 on x86_64, active tracing, its own log group with retention, the shared
environment, timeout/memory from the task, and a dedicated role whose statements are derived from
``task.grants`` only (no managed policies, no ``grant_*`` helpers that widen scope). With a ``vpc`` in the
deployment config, every function also gets its ``VpcConfig`` and its role the network-interface statements
Lambda needs for it (``vpc_statements``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from freshtrack_ops.config import Target, VpcPlacement
from freshtrack_ops.dr.models import SERVERS_PARTITION
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.maintenance.scale import instance_id_of
from freshtrack_ops.tasks import LambdaTask
from stacks.dr_grants import (
    DrResources,
    app_config_statements,
    dns_statements,
    drill_cleanup_statements,
    nag_dr_resources,
    nag_wildcards,
    replacement_command_statement,
    replacement_statements,
)
from stacks.nag import acknowledge, suppress_lint
from stacks.storage_stack import (
    BACKUP_PREFIX,
    DEPLOY_LOG_PREFIX,
    DR_TRANSFER_PREFIX,
    REPORT_PREFIX,
    SSM_EXCHANGE_PREFIX,
    SSM_OUTPUT_PREFIX,
    StorageRefs,
)
from state_machines import invoked_tasks

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
PACKAGE = "freshtrack_ops"
REQUIREMENTS = REPO_ROOT / "requirements-lambda.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_12
PYTHON_VERSION = "3.12"
ARCHITECTURE = lambda_.Architecture.X86_64
#: wheel tags pip may install (it prefers the most specific one a package offers): python3.12 runs on Amazon
#: Linux 2023 (glibc 2.34), so manylinux_2_34 wheels run there as well as the older manylinux ones
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
#: what a ``LambdaTask.grants`` entry may name (an unknown grant fails synth rather than granting nothing)
KNOWN_GRANTS = frozenset(
    {
        "targets",
        "ssh-keys",
        "bucket-read",
        "bucket-write",
        "bucket-tags",
        "deploy-logs",
        "reports",
        "table",
        "notify",
        "start-test-restore",
        "ssm-commands",
        "ssm-results",
        "part-url-discard",
        "task-callback",
        # disaster recovery (stacks/dr_grants.py)
        "ec2-replacement",
        "drill-cleanup",
        "route53-record",
        "app-config-read",
        "app-config-write",
        # alert webhook and remediation
        "start-remediation",
        "webhook-secrets",
        # chat notifications (stacks/chat.py)
        "chat-secret",
        # the scale workflow: describe (its validator) and stop, resize, start the targets' instances
        "ec2-describe",
        "ec2-scale",
    }
)
#: narrower capabilities a broader one already contains (a role holding both gets the broader one's statements)
IMPLIED_BY = {"part-url-discard": "ssm-commands"}
#: grants that need a resource created after the functions (granted by the control plane stack)
LATE_GRANTS = frozenset({"start-test-restore", "start-remediation", "task-callback"})
#: what a task may do with the task token of a workflow waiting for it (``lambda:invoke.waitForTaskToken``)
TASK_CALLBACK_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat")
BUCKET_GRANTS = frozenset({"bucket-read", "bucket-write"})

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
    "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

_IGNORED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
#: The asset ships bytecode compiled by the runtime's Python: /var/task is read-only, so without it every cold start
#: compiles every module it imports. Measured on the bundled asset with python3.12 (2026-12-01, 23 handler
#: modules, median of 3 fresh interpreters each): 0.53-1.15 s without .pyc, 0.18-0.47 s with (x 0.31-0.61); the
#: asset grows from 60.8 to 73.0 MB unzipped (Lambda allows 250 MB). ``unchecked-hash``: the interpreter trusts the
#: .pyc without a stat of its source (the asset never changes once built); a 3.12 .pyc is valid for every 3.12.x
#: (the magic number changes only between minor versions).
COMPILE_ARGS = ("-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash")


def _python312_candidates() -> list[str]:
    """Where a python3.12 may be: ``FRESHTRACK_OPS_PY312`` alone when set; else the PATH, then the interpreters
    pyenv and uv install (a pyenv shim on the PATH refuses a version that is not selected)."""
    configured = os.environ.get("FRESHTRACK_OPS_PY312")
    if configured:
        return [configured]
    name = f"python{PYTHON_VERSION}"
    found = [path] if (path := shutil.which(name)) else []
    pyenv = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
    uv = Path("~/.local/share/uv/python").expanduser()
    found += sorted(str(p) for p in pyenv.glob(f"{PYTHON_VERSION}.*/bin/{name}"))
    found += sorted(str(p) for p in uv.glob(f"cpython-{PYTHON_VERSION}.*/bin/{name}"))
    return found


def bytecode_interpreter() -> str | None:
    """A ``python3.12`` to compile the asset's bytecode with, or None (see ``_python312_candidates``)."""
    for candidate in _python312_candidates():
        if _is_python312(candidate):
            return candidate
    return None


def _is_python312(found: str) -> bool:
    try:
        probe = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    return probe.returncode == 0 and probe.stdout.strip() == PYTHON_VERSION


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
    # with or without bytecode is a different asset (a machine without python3.12 builds the one without)
    digest.update(" ".join(COMPILE_ARGS).encode() if bytecode_interpreter() else b"no bytecode")
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
        interpreter = bytecode_interpreter()
        if interpreter is None:
            print(
                f"warning: no python{PYTHON_VERSION} found (set FRESHTRACK_OPS_PY312): the Lambda asset ships no "
                "bytecode, and every cold start compiles what it imports (about 2-3 x slower)",
                file=sys.stderr,
            )
            return True
        compiled = subprocess.run([interpreter, *COMPILE_ARGS, output_dir], capture_output=True, text=True, check=False)
        if compiled.returncode != 0:
            raise RuntimeError(f"compiling the Lambda asset's bytecode failed:\n{compiled.stdout}\n{compiled.stderr}")
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
    #: the host script Command documents (``HostScriptDocuments.document_arns()``)
    document_arns: tuple[str, ...]
    #: the EC2 / hybrid managed instances of the configured ``transport: ssm`` targets and SSM standbys
    #: (``instance_arn``)
    ssm_instance_arns: tuple[str, ...]
    #: the bucket has Object Lock (governance retention on every version): deleting a version needs the bypass
    object_lock: bool = False
    #: what the disaster-recovery grants name (``dr_grants.dr_resources``); None: no target has a dr section
    dr: DrResources | None = None
    #: the alert webhook's two secrets (``webhook_names``): ARNs in the stack, ``<name>-??????`` in the local
    #: plane; empty when the webhook is disabled (the grant then grants nothing)
    webhook_secret_arns: tuple[str, ...] = ()
    #: the chat webhook's secret (stacks/chat.py): its ARN, or ``<name>-??????`` for a configured existing one and
    #: in the local plane; empty when chat is disabled (the grant then grants nothing)
    chat_secret_arns: tuple[str, ...] = ()
    #: the chat secret is the stack's, encrypted with the data key (reading it needs kms:Decrypt on that key)
    chat_secret_on_data_key: bool = False
    #: the EC2 instances a scale may stop, resize and start (``scale_instance_ids``)
    scale_instance_arns: tuple[str, ...] = ()

    def backup_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{BACKUP_PREFIX}*"

    def ssm_exchange_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{SSM_EXCHANGE_PREFIX}*"

    def deploy_log_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{DEPLOY_LOG_PREFIX}*"

    def report_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{REPORT_PREFIX}*"

    def ssm_output_objects_arn(self) -> str:
        return f"{self.storage.bucket_arn}/{SSM_OUTPUT_PREFIX}*"


def _prefix_statements(
    grants: frozenset[str], resources: FunctionResources
) -> tuple[list[iam.PolicyStatement], set[str]]:
    """The grants on one key prefix of the bucket besides backups/: deploy logs (write only: never read back or
    overwritten by the functions) and reports (GetObject too: the report's link in the notification is presigned
    by the function that wrote it)."""
    statements: list[iam.PolicyStatement] = []
    kms_actions: set[str] = set()
    if "deploy-logs" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="DeployLogs", actions=["s3:PutObject"], resources=[resources.deploy_log_objects_arn()]
            )
        )
        kms_actions |= {"kms:Encrypt", "kms:GenerateDataKey"}
    if "reports" in grants:
        statements.append(
            iam.PolicyStatement(
                sid="Reports", actions=["s3:PutObject", "s3:GetObject"], resources=[resources.report_objects_arn()]
            )
        )
        kms_actions |= {"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"}
    return statements, kms_actions


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
        if "table" not in grants:  # the table grant already reads every item
            statements.append(servers_statement(resources.storage.table_arn))
            # the table is encrypted with the data key, which DynamoDB uses on the caller's behalf (as for the
            # table grant)
            kms_actions |= {"kms:Decrypt", "kms:DescribeKey"}
    if "ssh-keys" in grants and resources.ssh_key_secret_arns:
        statements.append(
            iam.PolicyStatement(
                sid="ReadSshKeys",
                actions=["secretsmanager:GetSecretValue"],
                resources=sorted(resources.ssh_key_secret_arns),
            )
        )
    webhook_found, webhook_kms_actions = webhook_statements(grants, resources)
    statements.extend(webhook_found)
    kms_actions |= webhook_kms_actions
    chat_found, chat_kms_actions = chat_statements(grants, resources)
    statements.extend(chat_found)
    statements.extend(scale_statements(grants, resources))
    kms_actions |= chat_kms_actions
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
    prefix_statements, prefix_kms_actions = _prefix_statements(grants, resources)
    statements += prefix_statements
    kms_actions |= prefix_kms_actions
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
                    # the webhook audits a delivery's alerts in one call (adapters/remediation_store.py)
                    "dynamodb:BatchWriteItem",
                ],
                resources=[resources.storage.table_arn],
            )
        )
        kms_actions |= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    if "notify" in grants:
        statements.append(iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[resources.topic_arn]))
        kms_actions |= {"kms:Decrypt", "kms:GenerateDataKey"}
    ssm_statements, ssm_kms_actions = _ssm_statements(grants, resources)
    statements.extend(ssm_statements)
    kms_actions |= ssm_kms_actions
    dr_found, dr_kms_actions = dr_statements(grants, resources)
    statements.extend(dr_found)
    kms_actions |= dr_kms_actions
    if kms_actions:
        statements.append(
            iam.PolicyStatement(sid="DataKey", actions=sorted(kms_actions), resources=[resources.storage.key_arn])
        )
    return statements


def webhook_statements(
    grants: frozenset[str], resources: FunctionResources
) -> tuple[list[iam.PolicyStatement], set[str]]:
    """``webhook-secrets``: read exactly the alert webhook's two secrets (none while the webhook is disabled).

    They are encrypted with the data key (stacks/webhook.py), and Secrets Manager decrypts a secret with the
    caller's own ``kms:Decrypt`` on its key, hence the data-key action.
    """
    if "webhook-secrets" not in grants or not resources.webhook_secret_arns:
        return [], set()
    statement = iam.PolicyStatement(
        sid="ReadWebhookSecrets",
        actions=["secretsmanager:GetSecretValue"],
        resources=sorted(resources.webhook_secret_arns),
    )
    return [statement], {"kms:Decrypt"}


def chat_statements(grants: frozenset[str], resources: FunctionResources) -> tuple[list[iam.PolicyStatement], set[str]]:
    """``chat-secret``: read exactly the chat webhook's secret (none while chat is disabled).

    The stack's own secret is encrypted with the data key (Secrets Manager decrypts with the caller's
    ``kms:Decrypt``); a configured existing secret is expected under the account's ``aws/secretsmanager`` key, whose
    key policy lets any principal of the account that may read the secret decrypt through Secrets Manager.
    """
    if "chat-secret" not in grants or not resources.chat_secret_arns:
        return [], set()
    statement = iam.PolicyStatement(
        sid="ReadChatSecret",
        actions=["secretsmanager:GetSecretValue"],
        resources=sorted(resources.chat_secret_arns),
    )
    return [statement], ({"kms:Decrypt"} if resources.chat_secret_on_data_key else set())


def scale_statements(grants: frozenset[str], resources: FunctionResources) -> list[iam.PolicyStatement]:
    """``ec2-describe``: DescribeInstances, which has no resource-level permissions (``*`` only); ``ec2-scale``: stop,
    start and change the type of exactly the scalable targets' instances ("Actions, resources, and condition keys for
    Amazon EC2", Service Authorization Reference: Start/StopInstances and ModifyInstanceAttribute take the
    ``instance`` resource; maintenance/scale.py EC2_SCALE_PERMISSIONS). The new type cannot be limited by policy
    (``ec2:InstanceType`` is the type the instance has): the validator checks it against allowed_instance_types."""
    statements: list[iam.PolicyStatement] = []
    if grants & {"ec2-describe", "ec2-scale"}:
        statements.append(
            iam.PolicyStatement(sid="DescribeInstances", actions=["ec2:DescribeInstances"], resources=["*"])
        )
    if "ec2-scale" in grants and resources.scale_instance_arns:
        statements.append(
            iam.PolicyStatement(
                sid="ScaleInstances",
                actions=["ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"],
                resources=sorted(resources.scale_instance_arns),
            )
        )
    return statements


def scale_instance_ids(targets: Iterable[Target]) -> list[str]:
    """The EC2 instances of the targets a scale may resize (an allowed_instance_types list and an instance)."""
    found = []
    for target in targets:
        if not target.maintenance.allowed_instance_types:
            continue
        try:
            found.append(instance_id_of(target))
        except InvalidInput:
            continue
    return sorted(set(found))


def servers_statement(table_arn: str) -> iam.PolicyStatement:
    """What ``targets`` reads besides the parameter: the promoted and registered replacement servers, items of
    the ops table's ``SERVERS`` partition (every targets() call merges them into the configured targets).

    ``dynamodb:LeadingKeys`` is the partition key values of the request (DynamoDB developer guide, "Using IAM
    policy conditions for fine-grained access control"; multivalued: its policies use ``ForAllValues:``), so
    GetItem and Query can read that partition and no other item; ``ForAllValues`` is true when the key is
    missing (IAM user guide, "Multivalued context key examples"), hence ``Null: false`` next to it.
    """
    return iam.PolicyStatement(
        sid="ReadServers",
        actions=["dynamodb:GetItem", "dynamodb:Query"],
        resources=[table_arn],
        conditions={
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SERVERS_PARTITION]},
            "Null": {"dynamodb:LeadingKeys": "false"},
        },
    )


def dr_statements(grants: frozenset[str], resources: FunctionResources) -> tuple[list[iam.PolicyStatement], set[str]]:
    """The disaster-recovery grants (stacks/dr_grants.py): statements, and the data-key actions they need."""
    dr = resources.dr
    if dr is None:
        return [], set()
    found: list[iam.PolicyStatement] = []
    if "ec2-replacement" in grants:
        found.extend(replacement_statements(dr))
    elif "drill-cleanup" in grants:
        found.extend(drill_cleanup_statements(dr, ssm=False))
    if "route53-record" in grants:
        found.extend(dns_statements(dr))
    config_statements, kms = app_config_statements(
        grants, dr, bucket_arn=resources.storage.bucket_arn, object_lock=resources.object_lock
    )
    found.extend(config_statements)
    return found, kms


def _ssm_statements(grants: frozenset[str], resources: FunctionResources) -> tuple[list[iam.PolicyStatement], set[str]]:
    """The Run Command grants: statements, and the data-key actions they need."""
    found: list[iam.PolicyStatement] = []
    kms: set[str] = set()
    if "ssm-commands" in grants:
        found.extend(_ssm_command_statements(resources))
        kms |= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
    if _only("part-url-discard", grants):
        found.append(
            iam.PolicyStatement(
                # delete an upload's lists of presigned part URLs (the first and every fresh one a host job got)
                # once the upload is completed or aborted (presign.discard_part_urls; HostCommandDone finishing or
                # abandoning the SSM dump): delete, no reads, no writes
                sid="DiscardPartUrlLists",
                actions=["s3:DeleteObject"],
                resources=[resources.ssm_exchange_objects_arn()],
            )
        )
        if not grants & BUCKET_GRANTS:
            found.append(
                iam.PolicyStatement(
                    # discard_part_urls lists the upload's lists first (a bucket grant already has ListBucket)
                    sid="ListPartUrlLists",
                    actions=["s3:ListBucket"],
                    resources=[resources.storage.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [SSM_EXCHANGE_PREFIX + "*"]}},
                )
            )
    if "ssm-results" in grants:
        found.append(
            iam.PolicyStatement(
                sid="ReadCommandInvocations",
                # GetCommandInvocation supports no resource-level permissions (acknowledged in TaskFunction)
                actions=["ssm:GetCommandInvocation"],
                resources=["*"],
            )
        )
        found.append(
            iam.PolicyStatement(
                sid="ReadCommandOutput",
                actions=["s3:GetObject"],
                resources=[resources.ssm_output_objects_arn()],
            )
        )
        kms |= {"kms:Decrypt"}
    return found, kms


def _only(grant: str, grants: frozenset[str]) -> bool:
    """``grant`` is held and no broader grant of the same role already contains it."""
    return grant in grants and IMPLIED_BY.get(grant) not in grants


def _ssm_command_statements(resources: FunctionResources) -> list[iam.PolicyStatement]:
    """``ssm-commands``: send the host script documents to the configured SSM targets, and the URL lists.

    SendCommand is authorized against the document AND every instance: naming exactly the host script
    documents and the configured instances means no other document (``AWS-RunShellScript``) and no other
    instance. The presigned URLs a task hands to the host can do only what the task's role may do: the
    backup objects they name are covered by the task's ``bucket-read`` / ``bucket-write`` grant, which this
    grant deliberately does not widen (a read-only task must not be able to presign a PutObject).
    """
    to_replacements = replacement_command_statement(resources.dr) if resources.dr else None
    return [
        iam.PolicyStatement(
            sid="SendHostCommands",
            actions=["ssm:SendCommand"],
            resources=[*sorted(resources.document_arns), *sorted(resources.ssm_instance_arns)],
        ),
        *([to_replacements] if to_replacements else []),
        iam.PolicyStatement(
            sid="ManageHostCommands",
            # neither action supports resource-level permissions (acknowledged in TaskFunction)
            actions=["ssm:CancelCommand", "ssm:DescribeInstanceInformation"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="PartUrlLists",
            actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:PutObjectTagging"],
            resources=[resources.ssm_exchange_objects_arn()],
        ),
    ]


def start_test_restore_statement(state_machine_arn: str) -> iam.PolicyStatement:
    """``start-test-restore``: start executions of the test-restore workflow (what its
    ``grant_start_execution`` granted: StartExecution on the state machine, no sid)."""
    return iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine_arn])


def start_remediation_statement(state_machine_arn: str) -> iam.PolicyStatement:
    """``start-remediation``: start executions of the remediation workflow, and of no other."""
    return iam.PolicyStatement(sid="StartRemediation", actions=["states:StartExecution"], resources=[state_machine_arn])


def callback_state_machine_arns(task: str, state_machine_arns: Mapping[str, str]) -> list[str]:
    """The workflows (name -> state machine ARN) whose task tokens ``task`` may complete: those that invoke it,
    else (a task no workflow invokes, like the EventBridge-driven ``HostCommandDone``) every workflow."""
    invoking = [arn for workflow, arn in state_machine_arns.items() if task in invoked_tasks(workflow)]
    return invoking or list(state_machine_arns.values())


def late_grant_statements(
    grants: Iterable[str],
    *,
    test_restore_arn: str | None,
    callback_arns: Iterable[str],
    remediation_arn: str | None = None,
) -> list[iam.PolicyStatement]:
    """The statements of the ``LATE_GRANTS`` as the control plane stack adds them (its resources exist only
    once the state machines do); the local plane models a task role with ``grant_statements`` + these."""
    grants = frozenset(grants)
    found: list[iam.PolicyStatement] = []
    if "start-test-restore" in grants and test_restore_arn is not None:
        found.append(start_test_restore_statement(test_restore_arn))
    if "start-remediation" in grants and remediation_arn is not None:
        found.append(start_remediation_statement(remediation_arn))
    callback_arns = list(callback_arns)
    if "task-callback" in grants and callback_arns:
        found.append(task_callback_statement(callback_arns))
    return found


def task_callback_statement(state_machine_arns: Iterable[str]) -> iam.PolicyStatement:
    """``task-callback``: complete (or heartbeat) the task tokens of these workflows."""
    return iam.PolicyStatement(
        sid="TaskCallback",
        actions=list(TASK_CALLBACK_ACTIONS),
        resources=list(state_machine_arns),
    )


def vpc_statements(scope: Construct, vpc: VpcPlacement) -> list[iam.PolicyStatement]:
    """What Lambda needs to give a function network interfaces in ``vpc`` (it uses the function's own role).

    The actions of AWSLambdaVPCAccessExecutionRole (the AWS Lambda developer guide, "Giving Lambda functions
    access to resources in an Amazon VPC", lists them for a custom policy), inline so the role keeps no managed
    policy, and scoped where EC2 allows: CreateNetworkInterface to new interfaces of this account in the
    configured subnets and security groups (any account: a shared VPC's subnets belong to its owner, and subnet
    and group ids are unique); Delete/Assign/Unassign to this account's resources in this region, which is the
    guide's own example ("arn:aws:ec2:<region>:<account>:*/*") for DeleteNetworkInterface; the two Describe
    actions support no resource-level permissions ("only works if it's allowed on all resources").
    """
    stack = Stack.of(scope)

    def ec2_arn(resource: str, account: str | None = None) -> str:
        return stack.format_arn(service="ec2", resource=resource, account=account)

    return [
        iam.PolicyStatement(
            sid="CreateNetworkInterfaces",
            actions=["ec2:CreateNetworkInterface"],
            resources=[
                ec2_arn("network-interface/*"),
                *(ec2_arn(f"subnet/{subnet}", account="*") for subnet in vpc.subnet_ids),
                *(ec2_arn(f"security-group/{group}", account="*") for group in vpc.security_group_ids),
            ],
        ),
        iam.PolicyStatement(
            sid="ManageNetworkInterfaces",
            actions=["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            resources=[ec2_arn("*/*")],
        ),
        iam.PolicyStatement(
            sid="DescribeNetworkInterfaces",
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            resources=["*"],
        ),
    ]


def wildcard_reason(grants: frozenset[str], *, vpc: bool = False) -> str:
    """Why a task role has ``Resource: *`` statements (one acknowledgement per role, so one reason)."""
    parts = ["X-Ray PutTraceSegments/PutTelemetryRecords (added by tracing ACTIVE)"]
    if vpc:
        parts.append("ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets (VPC placement)")
    if "ssm-commands" in grants:
        parts.append("ssm:CancelCommand and ssm:DescribeInstanceInformation")
    if "ssm-results" in grants:
        parts.append("ssm:GetCommandInvocation")
    if "ec2-replacement" in grants:
        parts.append("ec2:DescribeInstances and ssm:DescribeInstanceInformation (a replacement's state)")
    elif "drill-cleanup" in grants:
        parts.append("ec2:DescribeInstances (a drill's instances, by tag)")
    return (
        f"{' and '.join(parts)} support no resource-level permissions; every other statement of this role "
        "names its resources (SendCommand names the host script documents and the configured instances)."
    )


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
        log_key: kms.IKey,
        vpc: VpcPlacement | None = None,
    ) -> None:
        """``log_key`` encrypts the function's log group (the data key: its policy lets CloudWatch Logs use it; the
        function's role needs nothing on the key, CloudWatch Logs encrypts what it receives)."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, encryption_key=log_key)
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
        if vpc is not None:
            # in the default policy, which the function depends on: CreateFunction checks these permissions
            for statement in vpc_statements(self, vpc):
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
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        suppress_lint(
            cfn_function,
            "WS1004",
            "The function logs to its own log group with a retention (LoggingConfig.LogGroup is the Logs group "
            "next to it, RetentionInDays set); WS1004 only recognises a group named /aws/lambda/<FunctionName> "
            "or one whose name references the function, not LoggingConfig.",
        )
        if vpc is not None:
            self._place_in_vpc(vpc)
        acknowledge(self, "AwsSolutions-IAM5[Resource::*]", wildcard_reason(task.grants, vpc=vpc is not None))
        # cdk-nag names an Fn::ImportValue by its export name
        bucket_export = resources.storage.bucket_arn_export
        if task.grants & {"ssm-commands", "part-url-discard"}:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{bucket_export}/{SSM_EXCHANGE_PREFIX}*]",
                "The lists of presigned part URLs are objects named per upload under ssm-exchange/ (expired "
                "after a day by the lifecycle), so the key part must be a wildcard; no backup object is in it.",
            )
        if "ssm-results" in task.grants:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{bucket_export}/{SSM_OUTPUT_PREFIX}*]",
                "The SSM agent writes each command's output under ssm-output/<command id>/<instance id>/..., "
                "keys known only once the command runs, so the key part must be a wildcard (read only).",
            )
        if "deploy-logs" in task.grants:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{bucket_export}/{DEPLOY_LOG_PREFIX}*]",
                "Deploy logs are written per host, update and phase (deploy-logs/<host>/<update id>/<phase>.json), "
                "so the key part must be a wildcard; PutObject only, no backup object is in the prefix.",
            )
        if "reports" in task.grants:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{bucket_export}/{REPORT_PREFIX}*]",
                "Reports are written per host, kind and day (reports/<host>/daily/<date>.html, reports/<host>/logs/"
                "...), so the key part must be a wildcard; no backup object is in the prefix.",
            )
        self._acknowledge_dr(task, resources)
        if task.grants & (BUCKET_GRANTS | {"bucket-tags"}):
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{bucket_export}/{BACKUP_PREFIX}*]",
                "Object actions are scoped to the backups/ prefix; backup object keys are generated per backup "
                "(backups/<host>/<yyyy>/<mm>/<dd>/<id>.dump), so the key part must be a wildcard.",
            )
        if RUNTIME.name != lambda_.Runtime.determine_latest_python_runtime(self).name:
            acknowledge(
                self,
                "AwsSolutions-L1",
                "Pinned to python3.12: the asset's binary wheels (pydantic-core, cryptography, PyNaCl) are "
                "bundled for cp312; moving runtimes is a deliberate change with a rebundle and tests.",
            )

    def _acknowledge_dr(self, task: LambdaTask, resources: FunctionResources) -> None:
        """The wildcard resources of the DR statements (as cdk-nag names them), each with its reason."""
        if resources.dr is None:
            return
        nag_dr = nag_dr_resources(resources.dr)
        found, _ = dr_statements(task.grants, replace(resources, dr=nag_dr))
        to_replacements = replacement_command_statement(nag_dr)
        if "ssm-commands" in task.grants and to_replacements is not None:
            found.append(to_replacements)
        for resource, reason in nag_wildcards(s for s in found if s.sid != "DrTransferObjects").items():
            acknowledge(self, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
        if any(s.sid == "DrTransferObjects" for s in found):
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{resources.storage.bucket_arn_export}/{DR_TRANSFER_PREFIX}*]",
                "A disaster recovery's transfer objects (the app configuration on its way between the app-config "
                "secret and a host) are named per transfer under dr-transfer/, so the key part must be a "
                "wildcard; no backup object is in the prefix, and a day's lifecycle backs up their deletion.",
            )

    def _place_in_vpc(self, vpc: VpcPlacement) -> None:
        """VpcConfig from the ids as configured (an ``IVpc`` would need a context lookup, i.e. AWS credentials at
        synth; the ids are all Lambda needs)."""
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
            subnet_ids=list(vpc.subnet_ids), security_group_ids=list(vpc.security_group_ids)
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]",
            "Lambda creates the function's network interfaces itself; their ids exist only once created, so "
            "CreateNetworkInterface names new interfaces of this account, limited by the configured subnets and "
            "security groups named in the same statement.",
        )
        acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*/*]",
            "DeleteNetworkInterface/Assign/UnassignPrivateIpAddresses on the interfaces Lambda created: the AWS "
            "Lambda guide asks for a unique id or all ids of the account (its example is this exact ARN), since "
            "the interface ids are Lambda's; scoped to this account and region.",
        )
        for subnet in vpc.subnet_ids:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:*:subnet/{subnet}]",
                "Exactly the configured subnet; the account is a wildcard because a shared VPC's subnets belong "
                "to the VPC owner's account, and subnet ids are unique in a region.",
            )
        for group in vpc.security_group_ids:
            acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:*:security-group/{group}]",
                "Exactly the configured security group; the account is a wildcard because a shared VPC's groups "
                "may belong to the VPC owner's account, and group ids are unique in a region.",
            )


def grant_task_callbacks(
    scope: Construct, roles_by_workflows: Mapping[tuple[str, ...], list[iam.IRole]], arns: Mapping[str, str]
) -> list[iam.Policy]:
    """The late ``task-callback`` grants: one ``AWS::IAM::Policy`` per distinct set of workflows, attached to the
    role of every function that completes the task tokens of exactly that set (least privilege unchanged: each
    role gets its own set and no other).

    A policy of its own, not the roles' default policies: the workflows' definitions name the functions' ARNs,
    and a function depends on its role (and so on the role's default policy), so the state machine ARNs in the
    default policy would close a cycle. A separate policy depends on the roles and the state machines, and
    nothing depends on it (it is in place once the deployment completes). Shared per set, because a policy per
    function was 31 of the control plane's resources (CloudFormation allows 500 per stack; 20 targets came to
    505 with the restore by swap): the 31 functions need 22 distinct sets.
    """
    policies = []
    for index, (workflows, roles) in enumerate(sorted(roles_by_workflows.items())):
        policies.append(
            iam.Policy(
                scope,
                f"TaskCallbackPolicy{index:02d}",
                roles=roles,
                statements=[task_callback_statement(arns[w] for w in workflows)],
            )
        )
    return policies


class FunctionFactory:
    """Creates one ``TaskFunction`` per catalog task, all sharing one code asset."""

    def __init__(
        self,
        scope: Construct,
        *,
        environment: Mapping[str, str],
        resources: FunctionResources,
        log_key: kms.IKey,
        vpc: VpcPlacement | None = None,
    ) -> None:
        self._scope = scope
        self._code = lambda_code()
        self._environment = {**POWERTOOLS_ENV, **environment}
        self._resources = resources
        self._log_key = log_key
        self._vpc = vpc

    def create(self, task: LambdaTask) -> TaskFunction:
        return TaskFunction(
            self._scope,
            task.name,
            task=task,
            code=self._code,
            environment=self._environment,
            resources=self._resources,
            log_key=self._log_key,
            vpc=self._vpc,
        )
