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

    schedule: Annotated[str, StringConstraints(pattern=CRON_PATTERN)] = "cron(0 2 * * ? *)"
    hourly: bool = False
    #: ``auto``: zstd-stream where the host has zstd (measured: about half the manual's dump + upload, fewer bytes
    #: than pg_dump's gzip; docs/performance.md), gzip-default where it has not
    compression: Compression = "auto"
    min_free_disk_mb: int = Field(default=512, ge=0)
    lock_lease_seconds: int = Field(default=3600, ge=60, le=86_400)
    #: start a test restore of every backup as soon as it is stored (in addition to the daily schedule)
    verify_after_backup: bool = False
    #: how fast pg_dump reads this database (MB of pg_database_size per second) until a backup has been
    #: measured; deliberately slow (measured here: ~47 MB/s) so a long dump is never started inline
    assumed_dump_mb_s: float = Field(default=10.0, gt=0, le=10_000)


class RestoreSettings(BaseModel):
    """How restores of a target are guarded and verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: require an approval (task token, SNS request) in addition to / instead of the typed confirmation
    approval: bool = False
    approval_timeout_s: int = Field(default=3600, ge=1, le=7 * 86_400)
    #: scheduled test restore of the newest backup (EventBridge Scheduler)
    test_restore_schedule: Annotated[str, StringConstraints(pattern=CRON_PATTERN)] = "cron(30 3 * * ? *)"
    lock_lease_seconds: int = Field(default=7200, ge=300, le=86_400)
    #: how fast a backup is read into pg_restore (MB of dump per second; pg_restore rebuilds indexes) and
    #: into pg_restore --list (download speed); deliberately slow (measured here: ~3.4 and ~60 MB/s)
    assumed_load_mb_s: float = Field(default=1.0, gt=0, le=10_000)
    assumed_verify_mb_s: float = Field(default=10.0, gt=0, le=10_000)
    #: restore by swap (docs/restore-swap.md): load the backup into a new database next to the live one and swap
    #: the names, keeping the old database as the way back, when PostgreSQL's data directory has the room (checked
    #: on the host before each restore); false, or too little room: the old path (safety backup, drop, load)
    swap: bool = True
    #: how long the previous database is kept, renamed aside, after a restore by swap (0: dropped by the next
    #: hourly drop-asides run); the catalog records it, the drop-asides workflow drops it after this
    keep_aside_hours: float = Field(default=24.0, ge=0, le=30 * 24)
    #: the minimal-downtime mode of a restore by swap: load while the application still runs on the live database
    #: and stop it only for the swap. What users write during the load stays in the aside database, not in the
    #: restored one (docs/restore-swap.md). A request's ``load_while_running`` overrides it.
    load_while_running: bool = False


class UpdateSettings(BaseModel):
    """How application updates of a target run and are verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: scripts/deploy-automated.sh is stopped (and the update rolled back) after this long
    deploy_timeout_s: int = Field(default=1800, ge=60, le=6 * 3600)
    #: how long an update keeps asking scripts/verify-deployment.sh before it counts as failed
    verify_window_s: int = Field(default=180, ge=10, le=3600)
    #: how long a deployment usually takes (decides inline vs host job, as for transfers)
    assumed_deploy_s: int = Field(default=600, ge=1, le=6 * 3600)
    #: the table where the app records its applied migrations (read by the schema fingerprint)
    migrations_table: Identifier = "schema_migrations"
    lock_lease_seconds: int = Field(default=4 * 3600, ge=300, le=86_400)
    #: the services whose image scripts/deploy-automated.sh builds from the app's code: an image rollback never
    #: pins them (a digest is no build tag); they are rebuilt from the unchanged code instead
    built_services: tuple[ServiceName, ...] = ("backend", "worker")
    #: the manual's monthly Docker update (``kind: images``) on a schedule (EventBridge Scheduler cron, UTC);
    #: unset: only on request. Scheduled image updates restore the pre-update backup only if the schema changed.
    image_update_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = None


SshKeyType = Literal["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]


class SshAccess(BaseModel):
    """How a server is reached over SSH (a target's or a standby's): the private key in Secrets Manager, the
    host key pinned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["ssh"] = "ssh"
    address: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:-]{1,253}$")]
    port: int = Field(default=22, ge=1, le=65535)
    user: Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)] = "root"
    private_key_secret_arn: Annotated[str, StringConstraints(pattern=SECRET_ARN_PATTERN)]
    host_public_key: Annotated[str, StringConstraints(pattern=HOST_PUBLIC_KEY_PATTERN)]
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)


class SsmAccess(BaseModel):
    """How a server is reached through SSM Run Command (an EC2 instance ``i-…`` or a managed instance ``mi-…``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["ssm"] = "ssm"
    instance_id: Annotated[str, StringConstraints(pattern=INSTANCE_ID_PATTERN)]


class SshStandby(SshAccess):
    """A standby server reached over SSH: a prepared machine a disaster recovery may restore onto."""

    id: HostId


class SsmStandby(SsmAccess):
    """A standby server reached through SSM Run Command."""

    id: HostId


Standby = Annotated[SshStandby | SsmStandby, Field(discriminator="transport")]


class DrSettings(BaseModel):
    """How a target is recovered onto another server (docs/disaster-recovery.md): where a replacement comes from,
    how it is reached, which DNS record a recovery moves, where the app's configuration is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the EC2 launch template a provisioned replacement is started from (id ``lt-…`` or name); it carries the
    #: AMI, instance type, subnet, security groups, key pair and instance profile
    launch_template: (
        Annotated[str, StringConstraints(pattern=f"{LAUNCH_TEMPLATE_ID_PATTERN}|{LAUNCH_TEMPLATE_NAME_PATTERN}")] | None
    ) = None
    launch_template_version: Annotated[str, StringConstraints(pattern=LAUNCH_TEMPLATE_VERSION_PATTERN)] = "$Default"
    #: the IAM role inside the template's instance profile: RunInstances with an instance profile needs
    #: iam:PassRole on that role ("Grant permissions to attach an IAM role to an instance", EC2 user guide), and
    #: the workflow's role gets PassRole on exactly this one. Required for an SSM replacement (the SSM Agent
    #: registers with the instance's role credentials).
    instance_role_arn: Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)] | None = None
    #: how the control plane reaches a provisioned replacement; unset: the target's own transport (``ssh`` for
    #: the embedded plane's local targets)
    transport: Literal["ssh", "ssm"] | None = None
    #: SSH replacement only: the login the launch template installs (its key pair or user data) and the secret
    #: holding the matching private key; unset: the target's own (an SSH target's ``user`` and
    #: ``private_key_secret_arn``)
    ssh_user: Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)] | None = None
    ssh_port: int = Field(default=22, ge=1, le=65535)
    private_key_secret_arn: Annotated[str, StringConstraints(pattern=SECRET_ARN_PATTERN)] | None = None
    #: the host key type pinned from the new instance's console output (never trusted on first use)
    host_key_type: SshKeyType = "ssh-ed25519"
    #: which address of a provisioned instance the control plane connects to: its public IPv4 address, or its
    #: private one (functions placed in the instance's VPC, ``vpc:``)
    connect_via: Literal["public-ip", "private-ip"] = "public-ip"
    #: the Route 53 record a recovery points at the new server (UPSERT, then wait for INSYNC)
    hosted_zone_id: Annotated[str, StringConstraints(pattern=HOSTED_ZONE_ID_PATTERN)]
    #: unset: the target's domain
    record_name: Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)] | None = None
    record_type: Literal["A", "AAAA"] = "A"
    #: short, so resolvers follow a recovery soon (Route 53 takes 0 to 2147483647 seconds)
    record_ttl: int = Field(default=60, ge=0, le=2_147_483_647)
    #: the Secrets Manager secret (name) holding the host's .env.production and secrets/ files
    app_config_secret_name: Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)]
    #: a monthly (or any) drill on a schedule (EventBridge Scheduler cron, UTC); unset: drills only on request
    drill_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = None
    #: the capture-config workflow (.env.production and secrets/ from this server into the app-config secret) on a
    #: schedule: a recovery after the server is lost bootstraps from what was captured last. Daily after the
    #: default backup by default; unset: captured only by drills, recoveries and on request
    capture_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = "cron(30 2 * * ? *)"
    #: time limits of a provisioned replacement: until EC2 reports it running, until it answers (SSH with the
    #: pinned key, or online in SSM), and of the DNS change until Route 53 reports INSYNC
    running_timeout_s: int = Field(default=600, ge=60, le=3600)
    reachable_timeout_s: int = Field(default=900, ge=60, le=3600)
    dns_insync_timeout_s: int = Field(default=600, ge=60, le=3600)
    #: how often the workflow asks whether the new server runs and answers, and whether the DNS change is INSYNC
    poll_interval_s: int = Field(default=10, ge=1, le=300)
    #: the health URL a replacement fetches from itself before the domain points at it (e.g. the backend's port
    #: published on 127.0.0.1): until a recovery moves the record, https://<domain> reaches the OLD server.
    #: Unset: the replacement is checked by ``compose ps`` and this target's own URL fetched from the host
    replacement_health_url: (
        Annotated[str, StringConstraints(pattern=HEALTH_URL_PATTERN, max_length=HEALTH_URL_MAX_CHARS)] | None
    ) = None
    #: require an approval (as restore.approval) in addition to / instead of the typed confirmation of a recovery
    approval: bool = False
    lock_lease_seconds: int = Field(default=6 * 3600, ge=900, le=86_400)
    #: prepared servers a recovery may use instead of provisioning one (``replacement: <standby id>``)
    standbys: tuple[Standby, ...] = ()

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

    id: HostId
    # the application on the host
    app_dir: AbsPath = "/opt/freshtrack-pro"
    docker_bin: AbsPath | Literal["docker"] = "docker"
    compose_services: tuple[ServiceName, ...] = ("backend", "worker", "postgres", "redis", "caddy")
    postgres_service: ServiceName = "postgres"
    app_services: tuple[ServiceName, ...] = ("backend", "worker")
    database: Identifier = "frostguard"
    db_role: Identifier = "frostguard"
    domain: Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)]
    health_url: HttpUrl | None = None
    #: who fetches the health URL: the control plane (Lambda), or the host itself (curl; for hosts whose
    #: URL the control plane cannot reach, e.g. SSM-only hosts in a private network)
    health_check_from: Literal["control-plane", "host"] = "control-plane"
    backup: BackupSettings = BackupSettings()
    restore: RestoreSettings = RestoreSettings()
    update: UpdateSettings = UpdateSettings()
    #: where host jobs keep their state on the host (created mode 700; must be owned by the command's user)
    job_dir: AbsPath = "/var/tmp/freshtrack-ops/jobs"
    #: a host job still running after this long is stopped and its workflow fails (HostCommandTimeout)
    max_transfer_hours: int = Field(default=12, ge=1, le=MAX_TRANSFER_HOURS)
    #: disaster recovery onto another server (docs/disaster-recovery.md); unset: this target cannot be recovered
    dr: DrSettings | None = None
    #: what alerts may do to this target (docs/remediation.md); the defaults map the manual's alerts
    remediation: RemediationSettings = RemediationSettings()
    #: the daily check's schedule and thresholds (docs/daily-operations.md); the defaults are the manual's
    daily_check: DailyCheckSettings = DailyCheckSettings()
    #: OS updates, secret rotation, scaling and the connection pool (docs/maintenance.md)
    maintenance: MaintenanceSettings = MaintenanceSettings()

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

    transport: Literal["local"] = "local"


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

    #: Lambda accepts up to 16 subnets and 5 security groups per function
    subnet_ids: tuple[Annotated[str, StringConstraints(pattern=SUBNET_ID_PATTERN)], ...] = Field(
        min_length=1, max_length=16
    )
    security_group_ids: tuple[Annotated[str, StringConstraints(pattern=SECURITY_GROUP_ID_PATTERN)], ...] = Field(
        min_length=1, max_length=5
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

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,30}$")] = "FreshTrackOps"
    targets: tuple[Target, ...] = Field(min_length=1)
    retention_days: int = Field(default=30, ge=1, le=3650)
    keep_last_verified: int = Field(default=7, ge=1, le=365)
    keep_weekly: int = Field(default=0, ge=0, le=520)
    keep_monthly: int = Field(default=0, ge=0, le=240)
    rpo_alarm_hours: float = Field(default=26.0, gt=0, le=24 * 90)
    notification_emails: tuple[Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)], ...] = ()
    object_lock_days: int | None = Field(default=None, ge=1, le=3650)
    #: unset: the functions run outside any VPC of the account (Lambda's default)
    vpc: VpcPlacement | None = None
    #: the alert webhook (Alertmanager, Grafana) that starts remediations (docs/remediation.md)
    webhook: WebhookSettings = WebhookSettings()
    #: chat notifications: every notification also posted to a Slack-compatible webhook (docs/configuration.md)
    chat: ChatSettings = ChatSettings()

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


def _shorten(value: Any) -> str:
    """The offending value as a message shows it: redacted first (a presigned URL's query is a credential,
    and a URL cut short could leave part of it), then cut to 80 characters."""
    text = redact(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


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
