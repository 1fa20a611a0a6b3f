"""A target's maintenance settings: the schedules of the monthly OS update and the quarterly secret rotation,
the time limits of an OS update and a reboot, and what scaling may change."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from freshtrack_ops.schedules import scheduler_cron

#: EC2 instance types as EC2 names them: family (letters, digits, optional suffixes such as ``g``, ``d``, ``n``,
#: ``-flex``), a dot, a size (``large``, ``2xlarge``, ``metal``, ``metal-24xl``)
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]{0,24}\.[a-z0-9-]{1,24}$"
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN)]
#: EC2 instance ids (``i-`` and 8 or 17 hex digits); a managed instance (``mi-``) cannot be resized
EC2_INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"


class MaintenanceSettings(BaseModel):
    """docs/maintenance.md. The defaults follow the operations manual ("Security Maintenance", "Scaling")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    os_update_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = Field(
        default=None,
        description=(
            'The monthly OS update window: an `os-update` execution `{"host", "trigger": "schedule", '
            '"reason": "monthly maintenance window"}`. Unset: on request only.'
        ),
        examples=["cron(0 3 ? * 7#2 *)"],
    )
    secret_rotation_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = Field(
        default=None,
        description=(
            "The quarterly rotation of the database password and the JWT secret: a `rotate-secrets` "
            "execution that carries the typed confirmation (the schedule is the consent). Unset: on "
            "request only."
        ),
        examples=["cron(0 4 1 1/3 ? *)"],
    )
    dpkg_lock_wait_s: int = Field(
        default=600,
        ge=0,
        le=3600,
        description=(
            "How long apt waits for the dpkg lock another apt run (unattended-upgrades) holds (`-o "
            "DPkg::Lock::Timeout`)."
        ),
    )
    apt_timeout_s: int = Field(
        default=1800, ge=60, le=3 * 3600, description="`apt-get update` and the upgrade are stopped after this long."
    )
    reboot_wait_s: int = Field(
        default=900,
        ge=30,
        le=3600,
        description=(
            "After a reboot or an instance start the host must answer within this, or the run ends "
            "`host-lost` (alarm `MaintenanceHostNotBack`)."
        ),
    )
    verify_window_s: int = Field(
        default=300,
        ge=10,
        le=3600,
        description=(
            "How long `verify-deployment.sh` and the health URL may take to pass after a change before "
            "it counts as failed and is reverted."
        ),
    )
    ec2_instance_id: Annotated[str, StringConstraints(pattern=EC2_INSTANCE_ID_PATTERN)] | None = Field(
        default=None,
        description=(
            "The EC2 instance of an SSH target (an SSM target's own `i-…` instance is used when unset);"
            " scaling needs one."
        ),
        examples=["i-0123456789abcdef0"],
    )
    allowed_instance_types: tuple[InstanceType, ...] = Field(
        default=(),
        description=(
            "The EC2 types a scale may choose; empty: scaling refused. The task role may stop, start "
            "and resize exactly these targets' instances."
        ),
        examples=[["t3.large", "t3.xlarge"]],
    )
    db_pool_min: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="The lowest `DB_POOL_SIZE` a `db-pool` change may set (at most `db_pool_max`).",
    )
    db_pool_max: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="The highest `DB_POOL_SIZE` a `db-pool` change may set (the manual's example is 20).",
    )
    db_pool_services: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")], ...] = Field(
        default=("backend",),
        description=(
            "What a pool change recreates (services of `compose_services`; the manual: `docker compose "
            "restart backend`)."
        ),
    )
