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

    #: the monthly OS update (EventBridge Scheduler cron, UTC; a maintenance window); unset: on request only
    os_update_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = None
    #: the quarterly rotation of the database password and the JWT secret; unset: on request only
    secret_rotation_schedule: Annotated[str, AfterValidator(scheduler_cron)] | None = None
    #: how long an OS update waits for another apt/dpkg run (unattended-upgrades) to let go of the dpkg lock
    dpkg_lock_wait_s: int = Field(default=600, ge=0, le=3600)
    #: apt-get update + upgrade are stopped after this long
    apt_timeout_s: int = Field(default=1800, ge=60, le=3 * 3600)
    #: how long a reboot (or an instance restart) may take until the host answers again
    reboot_wait_s: int = Field(default=900, ge=30, le=3600)
    #: how long the services and the health URL may take to be healthy after a change
    verify_window_s: int = Field(default=300, ge=10, le=3600)
    #: the EC2 instance of an SSH target (an SSM target's own ``instance_id`` is used when unset); scaling needs one
    ec2_instance_id: Annotated[str, StringConstraints(pattern=EC2_INSTANCE_ID_PATTERN)] | None = None
    #: the instance types a scale may choose; empty: scaling is refused for this target
    allowed_instance_types: tuple[InstanceType, ...] = ()
    #: the range a ``DB_POOL_SIZE`` change must stay in (the manual's example is 20)
    db_pool_min: int = Field(default=2, ge=1, le=1000)
    db_pool_max: int = Field(default=100, ge=1, le=1000)
    #: the backend services restarted after a pool change (the manual: ``docker compose restart backend``)
    db_pool_services: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")], ...] = ("backend",)
