"""Deployment configuration: the one file an operator edits, validated before anything is built.

The same ``Target`` model travels to the Lambda functions (as JSON in an SSM parameter), so the
control plane and the deployed tasks agree on what a target is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.daily.settings import DailyCheckSettings
from freshtrack_ops.errors import ConfigError
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.redact import redact
from freshtrack_ops.remediation.settings import RemediationSettings
from freshtrack_ops.schedules import scheduler_cron

HOST_ID_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
#: a health URL the host itself may be asked to fetch (health_check_from: host): scheme, host, port, path only.
#: It becomes an SSM document's allowedPattern (host_scripts/parameters.py), which the SSM Agent compiles with
#: Go's regexp: the path is ``*`` (a count like the old ``{0,1000}`` sits at Go's limit of 1000) and the
#: length is bounded by HEALTH_URL_MAX_CHARS, checked with the pattern.
HEALTH_URL_PATTERN = r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$"
HEALTH_URL_MAX_CHARS = 2048
IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
SERVICE_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
#: the longest list of service names, space separated, a host script takes (its SERVICES parameter's maxChars:
#: 16 names of 63 characters); a target whose list is longer could run no host command that names them all
SERVICE_LIST_MAX_CHARS = 16 * 64 - 1
UNIX_USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
ABS_PATH_PATTERN = r"^/[A-Za-z0-9._/-]{0,254}$"
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
HOST_PUBLIC_KEY_PATTERN = (
    r"^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/=]{40,}$"
)
SECRET_ARN_PATTERN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"  # noqa: S105 - a pattern, not a secret
INSTANCE_ID_PATTERN = r"^(i|mi)-[0-9a-f]{8,17}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
SECURITY_GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8,17}$"
#: EC2 launch template ids are ``lt-`` and 17 hex digits; names are 3-128 characters of ``[a-zA-Z0-9().-/_]``
#: (CreateLaunchTemplate, EC2 API reference). An ``lt-``+17-hex value is read as an id, anything else as a name.
LAUNCH_TEMPLATE_ID_PATTERN = r"^lt-[0-9a-f]{17}$"
LAUNCH_TEMPLATE_NAME_PATTERN = r"^[A-Za-z0-9().\-/_]{3,128}$"
#: "$Default", "$Latest" or a version number (RunInstances' LaunchTemplateSpecification.Version)
LAUNCH_TEMPLATE_VERSION_PATTERN = r"^(\$Default|\$Latest|[1-9][0-9]{0,8})$"
#: Route 53 hosted zone ids: at most 32 characters (HostedZone.Id, Route 53 API reference: no pattern is
#: documented; the ids seen are upper-case letters and digits, usually starting with "Z", moto's not)
HOSTED_ZONE_ID_PATTERN = r"^[A-Z0-9]{1,32}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
#: a Secrets Manager secret NAME (the ARN adds "-" and 6 random characters; IAM names it ``<name>-??????``)
SECRET_NAME_PATTERN = r"^[A-Za-z0-9/_+=.@-]{1,512}$"  # noqa: S105 - a pattern, not a secret
CRON_PATTERN = r"^cron\([^()]+\)$|^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$"
#: a disaster recovery's id (dr/models.py; update/models.py names the drill an update belongs to)
DR_ID_PATTERN = r"^dr-[a-z][a-z0-9-]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{8}$"
#: the service workflow's values that also become script parameters (service/models.py, host_scripts/parameters.py):
#: one IPv4 address or an IPv6 address (hex groups and colons; checked again with ipaddress), the most log lines,
#: and ``docker compose logs --since`` as docker takes it: Go's time.ParseDuration has no ``d`` unit, so the plan
#: turns ``1d`` into ``24h`` (99999d = 2399976h: seven digits)
IP_PATTERN = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]{2,39})$"
MAX_LOG_LINES = 10_000
DOCKER_SINCE_PATTERN = r"^([1-9][0-9]{0,6}[smh]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$"
#: how often an update (or a maintenance change, a recovery) asks scripts/verify-deployment.sh again while the
#: deployment settles: the workflows' Wait between attempts (state_machines: VERIFY_INTERVAL_S)
VERIFY_INTERVAL_S = 10


def _no_dotdot(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError("must not contain '..'")
    return path


HostId = Annotated[str, StringConstraints(pattern=HOST_ID_PATTERN)]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_PATTERN)]
AbsPath = Annotated[str, StringConstraints(pattern=ABS_PATH_PATTERN), AfterValidator(_no_dotdot)]


#: how a stored backup is compressed (backup/compression.py)
StoredCompression = Literal["gzip-default", "gzip-1", "lz4", "zstd", "zstd-stream", "lz4-stream"]
#: the setting: a stored compression, or ``auto`` (``zstd-stream`` where the host has zstd, else ``gzip-default``)
Compression = Literal["auto", "gzip-default", "gzip-1", "lz4", "zstd", "zstd-stream", "lz4-stream"]


class BackupSettings(BaseModel):
    """When and how a target is backed up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: Annotated[str, StringConstraints(pattern=CRON_PATTERN)] = Field(
        default="cron(0 2 * * ? *)",
        description=(
            "EventBridge Scheduler expression of the daily backup, evaluated in UTC (`cron(minutes "
            "hours day-of-month month day-of-week year)`, or `rate(...)`)."
        ),
        examples=["cron(0 2 * * ? *)", "rate(6 hours)"],
    )
    hourly: bool = Field(
        default=False,
        description=(
            "When true the target is backed up every hour at minute 0 UTC (`cron(0 * * * ? *)`) and "
            "`schedule` is ignored."
        ),
    )
    flexible_window_minutes: int | None = Field(
        default=None,
        ge=1,
        le=1440,
        description=(
            "EventBridge Scheduler's flexible time window of the backup schedule: the backup starts at some moment "
            "within this many minutes after the scheduled time instead of exactly at it, so that many targets "
            "sharing one schedule do not all start in the same second (docs/fleet-load.md). Unset: exactly on "
            "time. With `hourly` it must be under 60; keep it (plus a backup's duration) before the target's "
            "test restore."
        ),
        examples=[30],
    )
    compression: Compression = Field(
        default="auto",
        description=(
            "How the dump is compressed. `auto`: `zstd-stream` where the host has `zstd` (the preflight"
            " looks), `gzip-default` where it has not; chosen from the measurements in "
            "docs/performance.md (zstd level 1 stored 15 % fewer bytes than pg_dump's gzip at a quarter"
            " of its CPU). `gzip-*`, `lz4`, `zstd`: `pg_dump -Fc --compress=...` (`lz4`/`zstd` need "
            "pg_dump 16+; the preflight refuses them on an older one). `zstd-stream`/`lz4-stream`: "
            "`pg_dump -Fc -Z0` piped through the host's `zstd -T0` (every core) or `lz4`; the stored "
            "object is a zstd/lz4 frame around the archive, decompressed on the host by every reader "
            "(verify, test restore, restore, DR). Chosen explicitly, the host needs the `zstd`/`lz4` "
            "package (the preflight refuses without it, naming the package). The manifest records the "
            "compression; restoring such a file by hand: docs/runbooks.md#restoring-a-backup-by-hand."
        ),
    )
    min_free_disk_mb: int = Field(
        default=512, ge=0, description="The backup's preflight fails below this much free disk (MB) on the host."
    )
    lock_lease_seconds: int = Field(
        default=3600, ge=60, le=86_400, description="Lease of the host lock a backup takes."
    )
    verify_after_backup: bool = Field(
        default=False,
        description=(
            "Start a test restore of each backup as soon as it is stored (in addition to the daily test restore)."
        ),
    )
    assumed_dump_mb_s: float = Field(
        default=10.0,
        gt=0,
        le=10_000,
        description=(
            "How fast `pg_dump` reads the database (MB of `pg_database_size` per second) until a backup"
            " has measured it; decides inline vs host job (docs/host-jobs.md). Deliberately slow "
            "(measured here: about 47 MB/s), so a long dump is never started inline."
        ),
    )

    @model_validator(mode="after")
    def _window_within_the_hour(self) -> BackupSettings:
        if self.hourly and self.flexible_window_minutes is not None and self.flexible_window_minutes >= 60:
            raise ValueError(
                f"flexible_window_minutes: {self.flexible_window_minutes} is not under an hourly backup's 60 minutes"
            )
        return self


class RestoreSettings(BaseModel):
    """How restores of a target are guarded and verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: bool = Field(
        default=False,
        description=(
            "A restore also waits for an approval (task token, SNS request) besides the typed "
            "confirmation; then the confirmation may be left out."
        ),
    )
    approval_timeout_s: int = Field(
        default=3600,
        ge=1,
        le=7 * 86_400,
        description="How long a restore waits for that approval before it aborts with `ApprovalTimedOut`.",
    )
    test_restore_schedule: Annotated[str, StringConstraints(pattern=CRON_PATTERN)] = Field(
        default="cron(30 3 * * ? *)",
        description=(
            "When the non-destructive test restore of the newest backup runs (EventBridge Scheduler expression, UTC)."
        ),
        examples=["cron(30 3 * * ? *)"],
    )
    lock_lease_seconds: int = Field(
        default=7200, ge=300, le=86_400, description="Lease of the host lock a restore takes."
    )
    assumed_load_mb_s: float = Field(
        default=1.0,
        gt=0,
        le=10_000,
        description=(
            "MB of dump per second `pg_restore` loads (it rebuilds indexes) until measured; decides "
            "inline vs host job. Deliberately slow (measured here: about 3.4 MB/s)."
        ),
    )
    assumed_verify_mb_s: float = Field(
        default=10.0,
        gt=0,
        le=10_000,
        description=(
            "MB of dump per second the verification (`pg_restore --list`, the download) reads; decides "
            "inline vs host job (measured here: about 60 MB/s)."
        ),
    )
    swap: bool = Field(
        default=True,
        description=(
            "Restore by swap (docs/restore-swap.md): load the backup into a new database next to the "
            "live one, rename them in one transaction, keep the old one aside as the way back. Taken "
            "when PostgreSQL's data directory has room for it (1.25 x the larger of the live database "
            "and the backup's source database + 2048 MB, measured on the host before each restore); "
            "`false`, or too little room: the old path (safety backup, drop, load)."
        ),
    )
    keep_aside_hours: float = Field(
        default=24.0,
        ge=0,
        le=30 * 24,
        description=(
            "How long the old database stays aside after a restore by swap; the hourly `drop-asides` "
            "workflow drops it after that (0: at its next run)."
        ),
    )
    load_while_running: bool = Field(
        default=False,
        description=(
            "Minimal downtime for a restore by swap: load while the application runs and stop it only "
            "for the swap. What users write during the load is not in the restored database (it stays "
            "in the aside one). A request's `load_while_running` overrides it."
        ),
    )


class UpdateSettings(BaseModel):
    """How application updates of a target run and are verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deploy_timeout_s: int = Field(
        default=1800,
        ge=60,
        le=6 * 3600,
        description=(
            "`scripts/deploy-automated.sh` is stopped after this long and the update is rolled back "
            "(`HostCommandTimeout`)."
        ),
    )
    verify_window_s: int = Field(
        default=180,
        ge=10,
        le=3600,
        description=(
            "How long an update keeps asking `scripts/verify-deployment.sh <domain>` and `health_url` "
            "(every 10 s) before the deployment counts as failed and is rolled back."
        ),
    )
    assumed_deploy_s: int = Field(
        default=600,
        ge=1,
        le=6 * 3600,
        description=(
            "How long a deployment usually takes: over SSH a deployment longer than the invocation has "
            "left runs as a host job (docs/host-jobs.md)."
        ),
    )
    migrations_table: Identifier = Field(
        default="schema_migrations",
        description=(
            "The app's table of applied migrations, read by the schema fingerprint before and after an update."
        ),
    )
    lock_lease_seconds: int = Field(
        default=4 * 3600,
        ge=300,
        le=86_400,
        description=(
            "Lease of the host lock an update or a rollback takes (a failed rollback keeps the lock until it ends)."
        ),
    )
    built_services: tuple[ServiceName, ...] = Field(
        default=("backend", "worker"),
        description=(
            "The services whose image `scripts/deploy-automated.sh` builds from the app's code (each "
            "one of `compose_services`): a failed image update never pins them (a registry digest is no"
            " build tag) but rebuilds them from the unchanged code."
        ),
    )
    image_update_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = Field(
        default=None,
        description=(
            'The manual\'s monthly Docker update on a schedule: an `update` execution `{"host", "kind": '
            '"images", "rollback_database": "auto", "reason": "scheduled image update"}`, which '
            "restores the pre-update backup only if the schema changed. Unset: image updates only on "
            "request."
        ),
        examples=["cron(0 4 ? * 1#1 *)"],
    )


SshKeyType = Literal["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]


class SshAccess(BaseModel):
    """How a server is reached over SSH (a target's or a standby's): the private key in Secrets Manager, the
    host key pinned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["ssh"] = Field(
        default="ssh",
        description=(
            "How the control plane reaches the server: `ssh` (paramiko, the host key pinned) or `ssm` "
            "(SSM Run Command)."
        ),
    )
    address: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:-]{1,253}$")] = Field(
        description="Host name or address to connect to over SSH.", examples=["app.example.com", "203.0.113.10"]
    )
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    user: Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)] = Field(
        default="root", description="SSH login user."
    )
    private_key_secret_arn: Annotated[str, StringConstraints(pattern=SECRET_ARN_PATTERN)] = Field(
        description=(
            "Secrets Manager secret (full ARN, with the random suffix) whose value is the OpenSSH "
            "private key. Only the functions that open SSH connections may read it, and only these "
            "ARNs."
        ),
        examples=["arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod-ssh-AbCdEf"],
    )
    host_public_key: Annotated[str, StringConstraints(pattern=HOST_PUBLIC_KEY_PATTERN)] = Field(
        description=(
            "The server's host key as in `known_hosts` (`ssh-keyscan -t ed25519 HOST`); connections to "
            "any other key fail (`HostKeyMismatch`)."
        ),
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk9r0Nw0x1zY0Zp5D0Zq3rVb9nWmTq8yXbVbKsZt7Qb"],
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120, description="SSH connect timeout in seconds.")


class SsmAccess(BaseModel):
    """How a server is reached through SSM Run Command (an EC2 instance ``i-…`` or a managed instance ``mi-…``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["ssm"] = Field(
        default="ssm",
        description=(
            "How the control plane reaches the server: `ssh` (paramiko, the host key pinned) or `ssm` "
            "(SSM Run Command)."
        ),
    )
    instance_id: Annotated[str, StringConstraints(pattern=INSTANCE_ID_PATTERN)] = Field(
        description=(
            "EC2 instance (`i-…`) or managed-instance (`mi-…`) id. The instance runs SSM Agent "
            "3.3.2746.0+ and its role has the `SsmHostPolicyArn` policy (docs/ssm-deploy.md)."
        ),
        examples=["i-0123456789abcdef0"],
    )


class SshStandby(SshAccess):
    """A standby server reached over SSH: a prepared machine a disaster recovery may restore onto."""

    id: HostId = Field(
        description="The standby's id, unique among targets and standbys: a request names it as `replacement`."
    )


class SsmStandby(SsmAccess):
    """A standby server reached through SSM Run Command."""

    id: HostId = Field(
        description="The standby's id, unique among targets and standbys: a request names it as `replacement`."
    )


Standby = Annotated[SshStandby | SsmStandby, Field(discriminator="transport")]


class DrSettings(BaseModel):
    """How a target is recovered onto another server (docs/disaster-recovery.md): where a replacement comes from,
    how it is reached, which DNS record a recovery moves, where the app's configuration is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    launch_template: (
        Annotated[str, StringConstraints(pattern=f"{LAUNCH_TEMPLATE_ID_PATTERN}|{LAUNCH_TEMPLATE_NAME_PATTERN}")] | None
    ) = Field(
        default=None,
        description=(
            "The EC2 launch template a replacement server is started from (`replacement: provision`); "
            "it carries the AMI, instance type, subnet, security groups, key pair and instance profile."
            " An `lt-` + 17 hex value is read as an id, anything else as a name. A deployment needs the"
            " id: IAM limits RunInstances to a template by its id only, and synth asks AWS nothing, so "
            "a name stops synth (the local plane resolves names). Unset: only `standbys` can be "
            "recovered onto."
        ),
        examples=["lt-0123456789abcdef0"],
    )
    launch_template_version: Annotated[str, StringConstraints(pattern=LAUNCH_TEMPLATE_VERSION_PATTERN)] = Field(
        default="$Default",
        description="The template version RunInstances uses: `$Default`, `$Latest` or a version number.",
    )
    instance_role_arn: Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)] | None = Field(
        default=None,
        description=(
            "The role in the template's instance profile: the control plane gets `iam:PassRole` on this"
            " role only (to `ec2.amazonaws.com`). Required for an SSM replacement (the SSM Agent "
            "registers with the instance's role), and whenever the template names an instance profile."
        ),
        examples=["arn:aws:iam::123456789012:role/freshtrack-host"],
    )
    transport: Literal["ssh", "ssm"] | None = Field(
        default=None,
        description=(
            "How the control plane reaches a provisioned replacement; unset: the target's own (`ssh` "
            "for a local target)."
        ),
    )
    ssh_user: Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)] | None = Field(
        default=None,
        description=("SSH replacement: the login the template installs; unset: the target's `user` (else `root`)."),
    )
    ssh_port: int = Field(default=22, ge=1, le=65535, description="SSH replacement: the port.")
    private_key_secret_arn: Annotated[str, StringConstraints(pattern=SECRET_ARN_PATTERN)] | None = Field(
        default=None,
        description=(
            "SSH replacement: the secret holding the private key of the template's login; unset: the "
            "target's own. Required when the target itself is not reached over SSH."
        ),
    )
    host_key_type: SshKeyType = Field(
        default="ssh-ed25519",
        description=(
            "SSH replacement: the host key type pinned from the new instance's console output (never "
            "trusted on first use)."
        ),
    )
    connect_via: Literal["public-ip", "private-ip"] = Field(
        default="public-ip",
        description=(
            "Which address of a provisioned instance the control plane connects to (`private-ip` for "
            "functions placed in its VPC, `vpc:`)."
        ),
    )
    hosted_zone_id: Annotated[str, StringConstraints(pattern=HOSTED_ZONE_ID_PATTERN)] = Field(
        description="The Route 53 hosted zone of the record a recovery moves (UPSERT, then wait for INSYNC).",
        examples=["Z0123456789ABCDEFGHIJ"],
    )
    record_name: Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)] | None = Field(
        default=None, description="The record a recovery UPSERTs; unset: the target's `domain`."
    )
    record_type: Literal["A", "AAAA"] = Field(
        default="A", description="The record's type: the new server's IPv4 (`A`) or IPv6 (`AAAA`) address."
    )
    record_ttl: int = Field(
        default=60,
        ge=0,
        le=2_147_483_647,
        description=(
            "The record's TTL in seconds (Route 53's range). Short, so resolvers follow a recovery "
            "soon; what resolvers cached before a recovery stays cached for the old TTL."
        ),
    )
    app_config_secret_name: Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)] = Field(
        description=(
            "The Secrets Manager secret (its name; IAM matches it as `<name>-??????`) holding the "
            "server's `.env.production` and `secrets/` files. Its value never appears in an input, "
            "output, log or notification."
        ),
        examples=["freshtrack-ops/prod/app-config"],
    )
    drill_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = Field(
        default=None,
        description=(
            'A drill on a schedule, input `{"host": "<id>", "mode": "drill"}` (provision a server, '
            "latest verified backup). Needs `launch_template` (a scheduled drill provisions). Unset: "
            "drills only on request."
        ),
        examples=["cron(0 5 ? * 2#1 *)"],
    )
    capture_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = Field(
        default="cron(30 2 * * ? *)",
        description=(
            "The `capture-config` workflow (`.env.production` and `secrets/` into "
            '`app_config_secret_name`), input `{"host": "<id>"}`: a recovery after the server is lost '
            "bootstraps from the last capture. Daily after the default backup; unset: captured only by "
            "drills, recoveries and on request."
        ),
    )
    running_timeout_s: int = Field(
        default=600,
        ge=60,
        le=3600,
        description="A provisioned instance not `running` after this long fails the recovery.",
    )
    reachable_timeout_s: int = Field(
        default=900,
        ge=60,
        le=3600,
        description=(
            "A running instance that does not answer (SSH with the pinned key, or online in SSM) after "
            "this long fails the recovery."
        ),
    )
    dns_insync_timeout_s: int = Field(
        default=600, ge=60, le=3600, description="The DNS change not `INSYNC` after this long fails the recovery."
    )
    poll_interval_s: int = Field(
        default=10,
        ge=1,
        le=300,
        description=(
            "How often the workflow asks whether a launched server runs and answers, and whether the "
            "DNS change is INSYNC."
        ),
    )
    replacement_health_url: (
        Annotated[str, StringConstraints(pattern=HEALTH_URL_PATTERN, max_length=HEALTH_URL_MAX_CHARS)] | None
    ) = Field(
        default=None,
        description=(
            "The health URL a replacement fetches from itself before the domain points at it (a "
            "`health_check_from: host` URL, e.g. the backend's port published on 127.0.0.1); until a "
            "recovery moves the record, `https://<domain>` reaches the OLD server. Unset: `compose ps` "
            "and the target's own URL fetched from the host."
        ),
        examples=["http://127.0.0.1:8080/api/health"],
    )
    approval: bool = Field(
        default=False,
        description=(
            "A recovery also waits for an approval, as `restore.approval`; then the typed confirmation "
            "may be left out (a wrong one still fails)."
        ),
    )
    lock_lease_seconds: int = Field(
        default=6 * 3600,
        ge=900,
        le=86_400,
        description="Lease of the host lock a recovery or drill takes (one per host at a time).",
    )
    standbys: tuple[Standby, ...] = Field(
        default=(),
        description=(
            "Prepared servers a recovery may use instead of a new one (`replacement: <standby id>`), "
            "unique ids; see `Standby`."
        ),
    )

    @property
    def launch_template_spec(self) -> dict[str, str] | None:
        """RunInstances' ``LaunchTemplate`` parameter (LaunchTemplateId or LaunchTemplateName, and Version)."""
        if self.launch_template is None:
            return None
        key = (
            "LaunchTemplateId"
            if re.fullmatch(LAUNCH_TEMPLATE_ID_PATTERN, self.launch_template)
            else "LaunchTemplateName"
        )
        return {key: self.launch_template, "Version": self.launch_template_version}

    def effective_transport(self, target: TargetBase) -> Literal["ssh", "ssm"]:
        """The transport of a provisioned replacement: the configured one, else the target's own (``ssh`` for a
        local target of the embedded plane)."""
        if self.transport is not None:
            return self.transport
        return "ssm" if getattr(target, "transport", None) == "ssm" else "ssh"

    def effective_record_name(self, target: TargetBase) -> str:
        return self.record_name or target.domain

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.launch_template is None and not self.standbys:
            raise ValueError("nothing to recover onto: set launch_template (provision a server) or standbys")
        ids = [s.id for s in self.standbys]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"standbys: id listed more than once: {', '.join(repeated)}")
        return self


#: the longest a host job (a dump, verification or load too long for one Lambda invocation) may run; the
#: workflows' own TimeoutSeconds are sized from it (tests/asl checks that)
MAX_TRANSFER_HOURS = 24


class TargetBase(BaseModel):
    """What every FreshTrack Pro server the control plane operates has, whatever the transport."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: HostId = Field(
        description='The host id used in execution input (`{"host": "prod"}`), S3 keys and lock items.',
        examples=["prod", "staging"],
    )
    # the application on the host
    app_dir: AbsPath = Field(default="/opt/freshtrack-pro", description="The application root on the host.")
    docker_bin: AbsPath | Literal["docker"] = Field(
        default="docker", description="The docker binary on the host: `docker` (from PATH) or an absolute path."
    )
    compose_services: tuple[ServiceName, ...] = Field(
        default=("backend", "worker", "postgres", "redis", "caddy"), description="The compose services of the app."
    )
    postgres_service: ServiceName = Field(
        default="postgres", description="The database service (one of `compose_services`)."
    )
    app_services: tuple[ServiceName, ...] = Field(
        default=("backend", "worker"),
        description="The services stopped and started around a restore (each one of `compose_services`).",
    )
    database: Identifier = Field(default="frostguard", description="Database name.")
    db_role: Identifier = Field(default="frostguard", description="Database role.")
    domain: Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)] = Field(
        description="The app's public domain.", examples=["app.example.com"]
    )
    health_url: HttpUrl | None = Field(
        default=None,
        description=("The health endpoint checked after restores and updates; unset: `https://<domain>/api/health`."),
        examples=["https://app.example.com/api/health"],
    )
    health_check_from: Literal["control-plane", "host"] = Field(
        default="control-plane",
        description=(
            "Who fetches `health_url`: the control plane (Lambda), or the host itself with curl "
            "(`health.sh`; for hosts whose URL the control plane cannot reach, e.g. SSM targets in a "
            "private network). With `host`, `health_url` must be `scheme://host[:port]/path` (no query,"
            " at most 2048 characters)."
        ),
    )
    backup: BackupSettings = Field(
        default=BackupSettings(), description="When and how the target is backed up (`BackupSettings`)."
    )
    restore: RestoreSettings = Field(
        default=RestoreSettings(), description="How restores are guarded and verified (`RestoreSettings`)."
    )
    update: UpdateSettings = Field(
        default=UpdateSettings(),
        description="How application updates run, are verified and rolled back (`UpdateSettings`).",
    )
    job_dir: AbsPath = Field(
        default="/var/tmp/freshtrack-ops/jobs",
        description=(
            "Where host jobs (transfers too long for one invocation) keep their state on the host; "
            "created mode 700 and refused if it is a symlink or owned by another user "
            "(docs/host-jobs.md)."
        ),
    )
    max_transfer_hours: int = Field(
        default=12,
        ge=1,
        le=MAX_TRANSFER_HOURS,
        description=(
            "A host job still running after this long is stopped and its workflow fails with `HostCommandTimeout`."
        ),
    )
    dr: DrSettings | None = Field(
        default=None,
        description=(
            "Disaster recovery of this target onto another server (`DrSettings`, "
            "docs/disaster-recovery.md). Unset: a disaster-recovery request for the target is refused."
        ),
    )
    remediation: RemediationSettings = Field(
        default=RemediationSettings(),
        description=(
            "What alerts may do to this target: rules and the guard (`RemediationSettings`, "
            "docs/remediation.md); the defaults map the manual's alerts."
        ),
    )
    daily_check: DailyCheckSettings = Field(
        default=DailyCheckSettings(),
        description=(
            "The daily check's schedule and thresholds (`DailyCheckSettings`, "
            "docs/daily-operations.md); the defaults are the manual's."
        ),
    )
    maintenance: MaintenanceSettings = Field(
        default=MaintenanceSettings(),
        description=(
            "OS updates, secret rotation, scaling and the connection pool (`MaintenanceSettings`, docs/maintenance.md)."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.health_check_from == "host" and (
            len(self.effective_health_url) > HEALTH_URL_MAX_CHARS
            or not re.fullmatch(HEALTH_URL_PATTERN, self.effective_health_url)
        ):
            raise ValueError(
                f"health_url {redact(self.effective_health_url)[:80]!r} cannot be fetched by the host "
                f"(health_check_from: host takes scheme://host[:port]/path only, at most {HEALTH_URL_MAX_CHARS} "
                "characters)"
            )
        for field, names in (
            ("compose_services", self.compose_services),
            ("maintenance.db_pool_services", self.maintenance.db_pool_services),
        ):
            if len(" ".join(names)) > SERVICE_LIST_MAX_CHARS:
                raise ValueError(
                    f"{field}: at most {SERVICE_LIST_MAX_CHARS} characters as one space-separated list (the host "
                    f"scripts' SERVICES parameter) (got {len(names)} names, {len(' '.join(names))} characters)"
                )
        if self.postgres_service not in self.compose_services:
            raise ValueError(f"postgres_service {self.postgres_service!r} is not in compose_services")
        for service in self.app_services:
            if service not in self.compose_services:
                raise ValueError(f"app_services entry {service!r} is not in compose_services")
        remediated = [
            *self.remediation.memory_restart_allowed,
            *(r.service for r in self.remediation.rules if r.service),
        ]
        if any(rule.action == "certificate-check" for rule in self.remediation.rules):
            remediated.append(self.remediation.caddy_service)
        for service in remediated:
            if service not in self.compose_services:
                raise ValueError(f"remediation: service {service!r} is not in compose_services")
        for service in self.update.built_services:
            if service not in self.compose_services:
                raise ValueError(f"update.built_services entry {service!r} is not in compose_services")
        if self.dr is not None:
            _check_dr(self, self.dr)
        _check_maintenance(self.maintenance, self.compose_services)
        return self

    @property
    def effective_health_url(self) -> str:
        return str(self.health_url) if self.health_url else f"https://{self.domain}/api/health"


def _check_maintenance(settings: MaintenanceSettings, services: tuple[str, ...]) -> None:
    if settings.db_pool_min > settings.db_pool_max:
        raise ValueError(
            f"maintenance.db_pool_min: above db_pool_max {settings.db_pool_max} (got {settings.db_pool_min})"
        )
    for service in settings.db_pool_services:
        if service not in services:
            raise ValueError(f"maintenance.db_pool_services: {service!r} is not in compose_services")


def _check_dr(target: TargetBase, dr: DrSettings) -> None:
    """What a ``dr`` section must hold for this target: a replacement it can reach, and standbys that are not the
    target itself (a recovery onto the primary would restore over the server it is meant to replace)."""
    transport = dr.effective_transport(target)
    has_key = dr.private_key_secret_arn is not None or getattr(target, "private_key_secret_arn", None) is not None
    if dr.launch_template is not None and transport == "ssh" and not has_key:
        raise ValueError("dr.private_key_secret_arn: required for an SSH replacement of a target not reached over SSH")
    if dr.launch_template is not None and transport == "ssm" and dr.instance_role_arn is None:
        raise ValueError(
            "dr.instance_role_arn: required for an SSM replacement (the SSM Agent registers with the instance "
            "profile's role, and RunInstances needs iam:PassRole on it)"
        )
    for standby in dr.standbys:
        if standby.id == target.id:
            raise ValueError(f"dr.standbys: {standby.id!r} is this target's own id")
        same_address = isinstance(standby, SshStandby) and standby.address == getattr(target, "address", None)
        same_instance = isinstance(standby, SsmStandby) and standby.instance_id == getattr(target, "instance_id", None)
        if same_address or same_instance:
            raise ValueError(f"dr.standbys: standby {standby.id!r} is this target's own server")


class SshTarget(SshAccess, TargetBase):
    """A server reached over SSH (paramiko): the private key in Secrets Manager, the host key pinned."""


class SsmTarget(SsmAccess, TargetBase):
    """A server reached through SSM Run Command (an EC2 instance ``i-…`` or a managed instance ``mi-…``)."""


class LocalTarget(TargetBase):
    """The embedded plane's host without sshd (scripts run by a local bash); never in a deployment."""

    transport: Literal["local"] = Field(
        default="local",
        description=(
            "`local`: the embedded plane's host without sshd (scripts run by a local bash); never in a deployment."
        ),
    )


#: one FreshTrack Pro server: the ``transport`` field says which kind, and each kind has exactly its fields
Target = Annotated[SshTarget | SsmTarget | LocalTarget, Field(discriminator="transport")]
_TARGET_ADAPTER: TypeAdapter[SshTarget | SsmTarget | LocalTarget] = TypeAdapter(Target)


def parse_target(data: Any) -> SshTarget | SsmTarget | LocalTarget:
    """A target from its configuration (a dict): the transport picks the model; ValidationError otherwise."""
    return _TARGET_ADAPTER.validate_python(data)


def _keep_discriminators(compact: Any, full: Any) -> None:
    """Put back every ``transport`` that ``exclude_defaults`` dropped (a union needs it to pick the model)."""
    if isinstance(compact, dict) and isinstance(full, dict):
        if "transport" in full:
            compact["transport"] = full["transport"]
        for key, value in compact.items():
            _keep_discriminators(value, full.get(key))
    elif isinstance(compact, list) and isinstance(full, list):
        for compact_item, full_item in zip(compact, full, strict=True):
            _keep_discriminators(compact_item, full_item)


class TargetSet(BaseModel):
    """The targets as the Lambda tasks see them (no deployment-only settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[Target, ...]
    #: servers a disaster recovery is bootstrapping (registered in the ops table, never in the parameter): host
    #: steps reach them by id like a target, but no schedule, retention or fleet iterates them
    replacements: tuple[Target, ...] = ()

    def parameter_json(self) -> str:
        """The targets as the control plane stores them (the SSM parameter, at most 8 KB): settings at their
        defaults left out (a ``dr`` section alone is ~1.5 KB in full), every ``transport`` kept (the models'
        discriminator), and checked to read back equal to these targets."""
        full = self.model_dump(mode="json")
        compact = self.model_dump(mode="json", exclude_defaults=True)
        _keep_discriminators(compact, full)
        text = json.dumps(compact, separators=(",", ":"))
        if TargetSet.model_validate_json(text) != self:
            raise ConfigError("targets: the compact targets JSON does not read back equal to the configuration")
        return text

    def get(self, host: str) -> SshTarget | SsmTarget | LocalTarget:
        for target in (*self.targets, *self.replacements):
            if target.id == host:
                return target
        known = ", ".join(t.id for t in self.targets) or "none"
        raise ConfigError(f"host: unknown target {host!r} (known: {known})")


class VpcPlacement(BaseModel):
    """Optional: every task function runs with network interfaces in these subnets and security groups.

    For hosts reachable only from a VPC, and for a fixed egress address (the subnets' NAT gateway) that a host's
    firewall can allow SSH from. The subnets need a route to the AWS APIs the functions call (a NAT gateway or
    VPC endpoints): Lambda gives its network interfaces no public address.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    subnet_ids: tuple[Annotated[str, StringConstraints(pattern=SUBNET_ID_PATTERN)], ...] = Field(
        min_length=1,
        max_length=16,
        description=(
            "The subnets Lambda places the functions' network interfaces in (Lambda takes up to 16, no "
            "repeats). Use private subnets in at least two Availability Zones."
        ),
        examples=[["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]],
    )
    security_group_ids: tuple[Annotated[str, StringConstraints(pattern=SECURITY_GROUP_ID_PATTERN)], ...] = Field(
        min_length=1,
        max_length=5,
        description=(
            "The security groups of those interfaces (up to 5, no repeats). They need egress to the "
            "hosts (SSH port, or HTTPS for health checks) and to the AWS APIs."
        ),
        examples=[["sg-0123456789abcdef0"]],
    )

    @field_validator("subnet_ids", "security_group_ids")
    @classmethod
    def _unique(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return ids


class DeploymentConfig(BaseModel):
    """The deployment configuration file (e.g. config/example.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,30}$")] = Field(
        default="FreshTrackOps",
        description=(
            "Prefix of the stack names (`<name>Storage`, `<name>HostDocuments`, `<name>ControlPlane`), "
            "of the named exports (`<name>-BackupBucketArn`, ...) and of the targets parameter "
            "(`/<name>/targets`). Two deployments in one account/region need two names; changing it "
            "creates a new deployment next to the old one."
        ),
        examples=["FreshTrackOps", "ftops-staging"],
    )
    targets: tuple[Target, ...] = Field(
        min_length=1,
        description=(
            "The servers this deployment operates (unique `id`s; `transport: local` exists only in the embedded plane)."
        ),
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description=(
            "S3 lifecycle: backup objects under `backups/` tagged `retention=expiring` expire this many"
            " days after creation (they become non-current versions, deleted 7 days later). The "
            "retention task re-tags the backups to keep `retention=protected`, so the newest verified "
            "ones never expire (docs/retention.md)."
        ),
    )
    keep_last_verified: int = Field(
        default=7,
        ge=1,
        le=365,
        description=(
            "The retention task never lets the newest N verified backups of a host expire (the "
            "functions' `KEEP_LAST_VERIFIED`)."
        ),
    )
    keep_weekly: int = Field(
        default=0,
        ge=0,
        le=520,
        description="Also keep the newest verified backup of each of the last N weeks (`KEEP_WEEKLY`).",
    )
    keep_monthly: int = Field(
        default=0,
        ge=0,
        le=240,
        description="Also keep the newest verified backup of each of the last N months (`KEEP_MONTHLY`).",
    )
    rpo_alarm_hours: float = Field(
        default=26.0,
        gt=0,
        le=24 * 90,
        description=(
            "Hours without a verified backup after which a host counts as late: the RPO alarm on "
            "`NewestVerifiedBackupAgeHours` notifies."
        ),
    )
    notification_emails: tuple[Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)], ...] = Field(
        default=(),
        description="One SNS e-mail subscription per address (each must confirm the AWS subscription mail).",
        examples=[["ops@example.com"]],
    )
    object_lock_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description=(
            "When set: S3 Object Lock on the backup bucket with a default GOVERNANCE retention of this "
            "many days. Best set at the first deploy; once enabled on a bucket, Object Lock cannot be "
            "turned off. S3 then refuses every upload without `Content-MD5` or an `x-amz-checksum-*` "
            "value: the functions name a CRC32 checksum on every upload and the SSM host script sends "
            "each part's `Content-MD5` (docs/architecture.md#s3-object-lock-and-upload-checksums). "
            "Locally: `LocalPlane(object_lock_days=N)`."
        ),
    )
    vpc: VpcPlacement | None = Field(
        default=None,
        description=(
            "When set: every task function runs in these subnets with these security groups "
            "(`VpcPlacement`). Unset: the functions run outside your VPCs (Lambda's default)."
        ),
    )
    webhook: WebhookSettings = Field(
        default=WebhookSettings(),
        description=(
            "The alert webhook (API Gateway HTTP API) for Alertmanager and Grafana (`WebhookSettings`, "
            "docs/remediation.md)."
        ),
    )
    chat: ChatSettings = Field(
        default=ChatSettings(),
        description=(
            "Every notification also posted to a Slack-compatible incoming webhook (`ChatSettings`; see"
            " Chat notifications below). Off by default."
        ),
    )

    @model_validator(mode="after")
    def _unique_deployable_targets(self) -> DeploymentConfig:
        seen: set[str] = set()
        for target in self.targets:
            if target.id in seen:
                raise ValueError(f"duplicate target id {target.id!r}")
            seen.add(target.id)
            if target.transport == "local":
                raise ValueError(f"target {target.id!r}: transport 'local' exists only in the embedded plane")
        # a standby's id names one server: not a target's, not another standby's (a request says
        # ``replacement: <standby id>``, and a promotion makes the standby a target's server)
        servers = {server_key(t) for t in self.targets}
        for target in self.targets:
            for standby in target.dr.standbys if target.dr else ():
                if standby.id in seen:
                    raise ValueError(f"target {target.id!r}: dr.standbys id {standby.id!r} is already used")
                seen.add(standby.id)
                # a recovery restores over its replacement: a standby that is some target's server would
                # destroy that target's data
                if server_key(standby) in servers:
                    raise ValueError(f"target {target.id!r}: standby {standby.id!r} is the server of a target")
        return self

    def target_set(self) -> TargetSet:
        return TargetSet(targets=self.targets)


def server_key(host: SshTarget | SsmTarget | LocalTarget | SshStandby | SsmStandby) -> str:
    """The machine a target or standby names: its SSH address, or its instance id."""
    if isinstance(host, SshTarget | SshStandby):
        # a port other than 22 is part of the name: two sshd on one address are two servers to the control plane
        # (the embedded plane's hosts all listen on 127.0.0.1)
        port = "" if host.port == 22 else f":{host.port}"
        return f"address:{host.address.lower()}{port}"
    if isinstance(host, SsmTarget | SsmStandby):
        return f"instance:{host.instance_id}"
    return f"local:{host.id}"


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One clause per field, naming the field path and the offending value.

    Union members (``constrained-str``, ``literal[...]``) are not fields: their messages are merged,
    so ``backup_id`` reads "should match pattern ... or should be 'latest-verified' (got 'x')".
    """
    by_field: dict[str, tuple[list[str], Any]] = {}
    problems = error.errors()
    failed_items = {tuple(p["loc"][:-1]) for p in problems if len(p["loc"]) > 1}
    for problem in problems:
        loc = problem["loc"]
        if problem["type"] == "too_short" and any(item[: len(loc)] == tuple(loc) for item in failed_items):
            continue  # a list whose items failed also reads "too short" (the failed items were dropped)
        parts = [str(p) for i, p in enumerate(loc) if _is_field_part(loc, i)]
        if problem["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str) and not _FIELD_PART.match(loc[-1]):
            # an unknown key that is no identifier ("dry-run", "Host " ...): named quoted, as it was written
            parts.append(_shorten(loc[-1], 40))
        field = prefix + (".".join(parts) or "(input)")
        messages, _ = by_field.setdefault(field, ([], problem.get("input")))
        if problem["msg"] not in messages:
            messages.append(problem["msg"])
    return "; ".join(
        f"{field}: {' or '.join(messages)} (got {_shorten(value)})" for field, (messages, value) in by_field.items()
    )


_FIELD_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: a discriminated union puts the chosen member's tag in the error's path (``targets.0.ssh.address``)
_UNION_TAGS = frozenset({"ssh", "ssm", "local"})


def _is_field_part(loc: tuple[int | str, ...], index: int) -> bool:
    part = loc[index]
    if isinstance(part, int):
        return True
    if part in _UNION_TAGS and index > 0 and isinstance(loc[index - 1], int):
        return False
    return bool(_FIELD_PART.match(part))


def _shorten(value: Any, limit: int = 80) -> str:
    """The offending value as a message shows it: redacted first (a presigned URL's query is a credential,
    and a URL cut short could leave part of it), then cut to ``limit`` characters."""
    text = redact(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_deployment_config(path: Path) -> DeploymentConfig:
    """Read and validate a YAML/JSON deployment file; raise ConfigError naming field and value."""
    import yaml  # deployment-time only: the Lambda asset never loads YAML

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read deployment config: {exc}") from exc
    try:
        return DeploymentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc


__all__ = [
    "HOST_ID_PATTERN",
    "BackupSettings",
    "DeploymentConfig",
    "Target",
    "TargetSet",
    "VpcPlacement",
    "describe_validation_error",
    "load_deployment_config",
]
