"""Wiring for the Lambda tasks: settings from the environment, cached clients, adapters per target.

Everything is created lazily so a handler imports and builds only what it uses (cold starts), and
caches are process-wide and thread-safe enough for concurrent invocations in one process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freshtrack_ops.config import LocalTarget, SshTarget, Target, TargetSet, describe_validation_error
from freshtrack_ops.errors import ConfigError
from freshtrack_ops.observability import trace_aws_calls
from freshtrack_ops.ports import (
    ApprovalStore,
    CommandSender,
    DeploymentHistory,
    FleetGate,
    HostRunner,
    InstanceControl,
    Notifier,
    PendingCommandStore,
    PresignedUploads,
    TaskCallbacks,
    TransferObjects,
    UndoLog,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
    from mypy_boto3_s3 import S3Client

    from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog, DynamoCatalog, DynamoLockTable
    from freshtrack_ops.adapters.remediation_store import DynamoAuditLog, DynamoRemediationGuard
    from freshtrack_ops.adapters.s3_store import S3BackupStore
    from freshtrack_ops.adapters.servers import DynamoServerRegistry
    from freshtrack_ops.daily.run import DailyPorts

TARGETS_MAX_AGE_S = 60
SECRET_MAX_AGE_S = 300

# every AWS client comes from here: trace their calls from the start (observability.trace_aws_calls)
trace_aws_calls()


class Settings(BaseModel):
    """Environment of every task function (set by the CDK function factory or the local plane)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backup_bucket: str = Field(min_length=3)
    ops_table: str = Field(min_length=3)
    targets_parameter: str = Field(pattern=r"^/[A-Za-z0-9/_.-]+$")
    part_size_mb: int = Field(default=8, ge=5, le=512)
    keep_last_verified: int = Field(default=7, ge=1, le=365)
    keep_weekly: int = Field(default=0, ge=0, le=520)
    keep_monthly: int = Field(default=0, ge=0, le=240)
    notification_topic_arn: str = ""
    test_restore_state_machine_arn: str = ""
    #: the alert webhook: the workflow it starts, its two secrets, and the deployment's ``webhook`` section as JSON
    remediation_state_machine_arn: str = ""
    alertmanager_secret_arn: str = ""
    grafana_secret_arn: str = ""
    webhook_settings: str = ""
    #: chat notifications: the secret holding the webhook URL (ARN or name) and the ``chat`` section as JSON
    chat_secret_id: str = ""
    chat_settings: str = ""
    #: the names of the SSM Command documents are ``<prefix>FreshTrackOps-<script>``
    ssm_document_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    #: where the SSM agent writes command output in the backup bucket
    ssm_output_prefix: str = Field(default="ssm-output", pattern=r"^[A-Za-z0-9_.-]+$")
    #: an S3 endpoint for presigned URLs other than the regional one (an S3-compatible or interface endpoint)
    presign_endpoint_url: str = Field(default="", pattern=r"^(https?://[A-Za-z0-9.:-]+)?$")
    #: how long a presigned URL is minted for. A URL also dies with the credentials that signed it (the
    #: function role's session), whatever X-Amz-Expires says: a host job is fed fresh URLs from its polls
    #: after half this time, or at once when S3 refuses one (docs/ssm.md)
    presign_validity_s: int = Field(default=900, ge=1, le=12 * 3600)


#: settings given explicitly with ``configure`` (the local plane's); None: the function's environment
_configured: Settings | None = None
_configure_lock = threading.Lock()


def configure(new: Settings | None) -> None:
    """Use ``new`` as every task's settings from now on, instead of the environment; None: the environment again.

    The embedded local plane runs the handlers in its own process and configures them here rather than
    through ``os.environ`` (process-wide, shared with whatever else runs in that process). Deployed functions
    never call this: CDK sets their environment, which ``settings()`` reads. Executions run in threads: a
    reader sees the old or the new (frozen) Settings, never a mix; the presigners built from the old ones
    are forgotten.
    """
    global _configured  # noqa: PLW0603 - the process-wide hook, like the caches below
    with _configure_lock:
        _configured = new
        _presigner.cache_clear()
        _presigners_by_key.clear()


def settings() -> Settings:
    """The configured settings (``configure``), else the function's environment's (validated once, cached)."""
    configured = _configured
    return configured if configured is not None else _environment_settings()


@cache
def _environment_settings() -> Settings:
    raw = {key.lower(): value for key, value in os.environ.items()}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"function environment: {describe_validation_error(exc)}") from exc


def client(service: str) -> Any:
    """A cached boto3 client (public for handlers that call a service directly)."""
    return _client(service)


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.session.Session().client(service)  # type: ignore[call-overload]


def secret(secret_id: str, *, transform: Literal["json"] | None = None) -> Any:
    """A Secrets Manager value (powertools' provider on the cached client; cached ``SECRET_MAX_AGE_S``)."""
    return _secrets().get(secret_id, transform=transform, max_age=SECRET_MAX_AGE_S)


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=_client("secretsmanager"))


@cache
def _ssm_parameters() -> SSMProvider:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=_client("ssm"))


def forget_cached_values() -> None:
    """Forget the parameter and secret values read so far, keeping the clients (the local plane after it changed the
    targets). Not ``reset``: a new client loads botocore's JSON models again, and clients rebuilt after every
    targets change were ~40% of the local plane's CPU (py-spy, the restore and lock-contention modules)."""
    _ssm_parameters().clear_cache()  # type: ignore[no-untyped-call]
    _secrets().clear_cache()  # type: ignore[no-untyped-call]


def targets() -> TargetSet:
    """The inventory: the configured targets (the parameter, cached a minute) with the servers disaster recoveries
    changed applied (the ops table, read every time: a promotion takes effect for the very next task)."""
    from freshtrack_ops.dr.inventory import apply

    configured = configured_targets()
    try:
        return apply(configured, server_registry().load())
    except ValidationError as exc:
        raise ConfigError(f"servers of the ops table: {describe_validation_error(exc)}") from exc


def configured_targets() -> TargetSet:
    """The targets as the configuration file gives them (the parameter, cached a minute), before any promotion."""
    raw = _ssm_parameters().get(settings().targets_parameter, transform="json", max_age=TARGETS_MAX_AGE_S)
    try:
        return TargetSet.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"targets parameter: {describe_validation_error(exc)}") from exc


def server_registry() -> DynamoServerRegistry:
    from freshtrack_ops.adapters.servers import DynamoServerRegistry

    return DynamoServerRegistry(_client("dynamodb"), settings().ops_table)


#: the embedded plane's hosts share one machine: each lives in its own directories and listens on 127.0.0.1 at its
#: own ports. This hook tells the disaster-recovery tasks where a server it launched really is (address, port,
#: app_dir, docker_bin, job_dir, health_url). None (every deployment): EC2's addresses and the primary's layout.
_server_layout: Callable[[str], dict[str, Any]] | None = None


def set_server_layout(provider: Callable[[str], dict[str, Any]] | None) -> None:
    """Local plane only: ``provider(instance id or standby id)`` -> the fields that differ on that server."""
    global _server_layout  # noqa: PLW0603 - the process-wide hook, like configure()
    _server_layout = provider


def server_layout(server: str) -> dict[str, Any]:
    provider = _server_layout
    return dict(provider(server)) if provider is not None else {}


def store() -> S3BackupStore:
    from freshtrack_ops.adapters.s3_store import S3BackupStore

    return S3BackupStore(_client("s3"), settings().backup_bucket)


def lock_table() -> DynamoLockTable:
    from freshtrack_ops.adapters.dynamo import DynamoLockTable

    return DynamoLockTable(_client("dynamodb"), settings().ops_table)


def catalog() -> DynamoCatalog:
    from freshtrack_ops.adapters.dynamo import DynamoCatalog

    return DynamoCatalog(_client("dynamodb"), settings().ops_table)


def pending_commands() -> PendingCommandStore:
    from freshtrack_ops.adapters.pending import DynamoPendingCommands

    return DynamoPendingCommands(_client("dynamodb"), settings().ops_table)


def aside_catalog() -> DynamoAsideCatalog:
    from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog

    return DynamoAsideCatalog(_client("dynamodb"), settings().ops_table)


def deployment_history() -> DeploymentHistory:
    from freshtrack_ops.adapters.dynamo import DynamoDeploymentHistory

    return DynamoDeploymentHistory(_client("dynamodb"), settings().ops_table)


def fleet_gate() -> FleetGate:
    from freshtrack_ops.adapters.dynamo import DynamoFleetGate
    from freshtrack_ops.fleet.models import FLEET_ITEM_KEEP_S

    return DynamoFleetGate(_client("dynamodb"), settings().ops_table, keep_seconds=FLEET_ITEM_KEEP_S)


def approval_store() -> ApprovalStore:
    from freshtrack_ops.adapters.approvals import DynamoApprovalStore

    return DynamoApprovalStore(_client("dynamodb"), settings().ops_table)


def remediation_guard() -> DynamoRemediationGuard:
    from freshtrack_ops.adapters.remediation_store import DynamoRemediationGuard

    return DynamoRemediationGuard(_client("dynamodb"), settings().ops_table)


def audit_log() -> DynamoAuditLog:
    from freshtrack_ops.adapters.remediation_store import DynamoAuditLog

    return DynamoAuditLog(_client("dynamodb"), settings().ops_table)


def daily_ports() -> DailyPorts:
    """What the daily report task writes to and reads from (daily/run.py)."""

    from freshtrack_ops.adapters.daily_store import DynamoDailyHistory, S3ReportStore
    from freshtrack_ops.daily.html import render_report
    from freshtrack_ops.daily.run import DailyPorts

    config = settings()
    return DailyPorts(
        history=DynamoDailyHistory(_client("dynamodb"), config.ops_table),
        reports=S3ReportStore(_client("s3"), config.backup_bucket),
        list_backups=catalog().list_backups,
        render_html=render_report,
        region=_region(),
    )


def notifier() -> Notifier | None:
    """The deployment's notification topic (None where none is configured)."""
    from freshtrack_ops.adapters.sns_notifier import SnsNotifier

    topic = settings().notification_topic_arn
    return SnsNotifier(_client("sns"), topic) if topic else None


def undo_log() -> UndoLog:
    from freshtrack_ops.adapters.undo_log import DynamoUndoLog

    return DynamoUndoLog(_client("dynamodb"), settings().ops_table)


def task_callback() -> TaskCallbacks:
    from freshtrack_ops.adapters.task_callback import TaskCallback

    return TaskCallback(_client("stepfunctions"))


def ssm_commands() -> CommandSender:

    from freshtrack_ops.adapters.host_exchange import HostExchange
    from freshtrack_ops.adapters.ssm import SsmCommands

    current = settings()
    s3 = _client("s3")
    region = _region()
    return SsmCommands(
        _client("ssm"),
        s3,
        output_bucket=current.backup_bucket,
        output_prefix=current.ssm_output_prefix,
        document_prefix=current.ssm_document_prefix,
        exchange=HostExchange(s3, current.backup_bucket, region=region, account=_account_id),
    )


def _region() -> str:
    """The functions' region, from a cached client (a new boto3 Session per call cost more than the call)."""
    return str(_client("s3").meta.region_name or "us-east-1")


@cache
def _account_id() -> str:
    """This account's id (STS GetCallerIdentity needs no permission): names the instance ARN an exchange object is
    tagged with."""
    return str(_client("sts").get_caller_identity()["Account"])


def instances() -> InstanceControl:
    """EC2 stop/start/resize of one instance (a scale)."""
    from freshtrack_ops.adapters.ec2_instances import Ec2InstanceControl

    return Ec2InstanceControl(_scaling_ec2())


@cache
def _scaling_ec2() -> Any:
    """EC2 with one quick SDK retry instead of botocore's legacy four: InsufficientInstanceCapacity is a 5xx that
    botocore would retry for seconds with backoff, inside a task that must answer at once; the scale workflow
    decides what a capacity refusal means (the old type back) and waits between polls in Wait states."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2})
    return boto3.session.Session().client("ec2", config=config)


#: where the presigning credentials come from when not from the function's environment (the local plane
#: issues short-lived ones to prove that URLs outlived by their credentials are replaced); None: boto3's chain
_presign_credentials: Callable[[], tuple[str, str, str | None]] | None = None
_presigners_by_key: dict[str, S3Client] = {}


def set_presign_credentials(provider: Callable[[], tuple[str, str, str | None]] | None) -> None:
    """Presign with ``provider()``'s (access key, secret key, session token) from now on (None: boto3's)."""
    global _presign_credentials  # noqa: PLW0603 - the process-wide hook, like the caches below
    _presign_credentials = provider
    _presigners_by_key.clear()


def presigned_uploads() -> PresignedUploads:
    """The SSM data path's port: presign with ``presigner()``, complete and abort with the task's own client."""
    from freshtrack_ops.adapters.presign import S3PresignedUploads

    return S3PresignedUploads(presigner(), _client("s3"), settings().backup_bucket)


def transfer_objects() -> TransferObjects:
    """The disaster recovery's transfer objects (``dr-transfer/``): presigned with ``presigner()``, read, written
    and deleted with the task's own client."""
    from freshtrack_ops.adapters.transfer import S3TransferObjects

    return S3TransferObjects(presigner(), _client("s3"), settings().backup_bucket)


def presigner() -> S3Client:
    """The S3 client that presigns the SSM data path's URLs (SigV4, regional endpoint unless configured)."""
    provider = _presign_credentials
    if provider is None:
        return _presigner()
    access_key, secret_key, token = provider()
    client = _presigners_by_key.get(access_key)
    if client is None:
        import boto3

        from freshtrack_ops.adapters.presign import presign_client

        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, aws_session_token=token
        )
        region = session.region_name or "us-east-1"
        client = presign_client(region, session, endpoint_url=settings().presign_endpoint_url)
        _presigners_by_key[access_key] = client
    return client


@cache
def _presigner() -> S3Client:
    import boto3

    from freshtrack_ops.adapters.presign import presign_client

    region = boto3.session.Session().region_name or "us-east-1"
    return presign_client(region, endpoint_url=settings().presign_endpoint_url)


def runner_for(target: SshTarget | LocalTarget) -> HostRunner:
    """A fresh runner per task invocation (connections are not shared across executions)."""
    if isinstance(target, SshTarget):
        return _ssh_runner(target)
    from freshtrack_ops.adapters.local import LocalRunner

    return LocalRunner(target.id)


@contextmanager
def runner(target: SshTarget | LocalTarget) -> Iterator[HostRunner]:
    """A host runner for one task invocation, closed afterwards."""
    host_runner = runner_for(target)
    try:
        yield host_runner
    finally:
        host_runner.close()


def ssh_answers(target: Target) -> bool:
    """Whether a booting server answers SSH with the pinned host key and takes the key: False while it refuses
    connections or logins (sshd or cloud-init not done yet); a presented key other than the pinned one raises
    HostKeyMismatch (never a reason to wait and try again)."""
    from freshtrack_ops.errors import HostAuthFailed, HostConnectionLost, HostUnreachable

    if not isinstance(target, SshTarget):
        return True
    runner = _ssh_runner(target)
    try:
        runner.check()  # type: ignore[attr-defined] # SshRunner
    except (HostUnreachable, HostAuthFailed, HostConnectionLost):
        return False
    finally:
        runner.close()
    return True


def _ssh_runner(target: SshTarget) -> HostRunner:
    from freshtrack_ops.adapters.ssh import SshRunner, load_private_key

    private_key = secret(target.private_key_secret_arn)
    return SshRunner(
        host_id=target.id,
        address=target.address,
        port=target.port,
        user=target.user,
        private_key=load_private_key(str(private_key)),
        host_public_key=target.host_public_key,
        connect_timeout_s=target.connect_timeout_s,
    )


def reset() -> None:
    """Forget cached settings, clients and parameters (the local plane calls this between planes).

    Settings given with ``configure`` stay until ``configure(None)``."""
    _environment_settings.cache_clear()
    _client.cache_clear()
    _secrets.cache_clear()
    _ssm_parameters.cache_clear()
    _scaling_ec2.cache_clear()
    _presigner.cache_clear()
    _account_id.cache_clear()
    _presigners_by_key.clear()
