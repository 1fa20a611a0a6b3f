"""What the maintenance workflows take and pass between their states (os-update, rotate-secrets, db-pool, scale):
requests, one plan shape, what the record task is told. Ids, sizes and names only: never a secret value."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.fields import HostRef, Reason, ServiceRef, Strict
from freshtrack_ops.maintenance.settings import InstanceType
from freshtrack_ops.models import BackupPlan

MaintenanceWorkflow = Literal["os-update", "rotate-secrets", "db-pool", "scale"]
#: who started it: by hand (opsctl, the console) or the target's maintenance schedule
MaintenanceTrigger = Literal["console", "schedule"]
#: ``<workflow>-<32 hex of the execution id>``: a retried validator opens the same audit entry
MAINTENANCE_ID_PATTERN = r"^(os-update|rotate-secrets|db-pool|scale)-[0-9a-f]{32}$"
MaintenanceId = Annotated[str, StringConstraints(pattern=MAINTENANCE_ID_PATTERN)]
Confirm = Annotated[str, StringConstraints(max_length=64)] | None


class MaintenanceRequest(Strict):
    """What every maintenance request has."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    dry_run: bool = Field(default=False, description="List the commands it would run; change nothing, take no lock")
    trigger: MaintenanceTrigger = Field(default="console", description="What started it: console, or schedule")
    reason: Reason = Field(default="", description="Free text kept in the audit entry and the notification")


class OsUpdateRequest(MaintenanceRequest):
    """Execution input of os-update: the manual's monthly ``apt update && apt upgrade -y`` and reboot if required."""

    reboot: Literal["if-required", "never"] = Field(
        default="if-required",
        description=(
            "if-required: reboot when /var/run/reboot-required exists after the upgrade; never: leave it to you"
        ),
    )


class RotateSecretsRequest(MaintenanceRequest):
    """Execution input of rotate-secrets: the manual's quarterly rotation of the database password and JWT secret."""

    confirm: Confirm = Field(
        default=None, description="The target's id, typed: the services restart (down, up)", examples=["prod"]
    )


class DbPoolRequest(MaintenanceRequest):
    """Execution input of db-pool: the manual's ``DB_POOL_SIZE`` change ("Database Scaling")."""

    size: int = Field(
        description="The new DB_POOL_SIZE, within the target's maintenance.db_pool_min..max", examples=[20]
    )


class ScaleRequest(MaintenanceRequest):
    """Execution input of scale: the manual's vertical scaling of an EC2 target."""

    instance_type: InstanceType = Field(
        description="The new EC2 instance type, one of the target's maintenance.allowed_instance_types",
        examples=["t3.xlarge"],
    )
    confirm: Confirm = Field(
        default=None, description="The target's id, typed: the instance stops and starts", examples=["staging"]
    )


REQUEST_MODELS: dict[str, type[MaintenanceRequest]] = {
    "os-update": OsUpdateRequest,
    "rotate-secrets": RotateSecretsRequest,
    "db-pool": DbPoolRequest,
    "scale": ScaleRequest,
}


class ValidateMaintenanceEvent(Strict):
    """What the first state hands the validator: the workflow, the raw input and the execution's context."""

    workflow: MaintenanceWorkflow
    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    started_at: str


class MaintenancePlan(Strict):
    """The validated request, as the later states and the host steps need it. Fields of other workflows are None."""

    workflow: MaintenanceWorkflow
    maintenance_id: MaintenanceId
    host: HostRef
    dry_run: bool
    trigger: MaintenanceTrigger
    #: what the workflow runs, in order ("the commands it would run" of a dry run; the audit's plan)
    commands: list[str]
    #: the pre-maintenance backup (trigger pre-maintenance), taken and verified before anything changes
    backup: BackupPlan
    audit_id: MaintenanceId
    lock_owner: str
    lock_lease_seconds: int
    lock_poll_s: int
    lock_tries: int
    #: scripts/verify-deployment.sh is asked this many times, every VERIFY_INTERVAL_S, before a change counts as failed
    verify_attempts: int
    #: while the host is down (a reboot, an instance restart): how often and how many times it is asked again
    probe_poll_s: int
    probe_tries: int
    #: the first line of the notification ("os-update of demo, started by hand (monthly window)")
    headline: str
    # os-update
    reboot: Literal["if-required", "never"] | None = None
    #: the id the host keeps an upgrade's report under across the SSM Agent's reboot (os_update.sh RUN_ID)
    run_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    # db-pool
    pool_size: int | None = None
    pool_services: list[ServiceRef] | None = None
    # rotate-secrets: refresh the DR copy of the app's configuration after a successful rotation
    capture_config: bool = False
    # scale
    instance_id: Annotated[str, StringConstraints(pattern=r"^i-[0-9a-f]{8,17}$")] | None = None
    instance_type: InstanceType | None = None
    #: the type before: what a failed scale goes back to
    previous_instance_type: InstanceType | None = None


MaintenanceOutcome = Literal["succeeded", "failed", "reverted", "revert-failed", "dry-run", "gave-way", "host-lost"]


class MaintenanceOutcomeEvent(Strict):
    """What the record task is told happened; ``reports`` holds each stage's small report (or null)."""

    plan: MaintenancePlan
    outcome: MaintenanceOutcome
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    #: the state where it stopped (a failure), as the notification names it
    stage: Annotated[str, StringConstraints(max_length=80)] = ""
    reports: dict[str, object] = Field(default_factory=dict)
    error: dict[str, object] | None = None
    revert_error: dict[str, object] | None = None


class MaintenanceRecord(Strict):
    """The notification the workflow publishes and, for a failure, the Fail state's error and cause."""

    subject: Annotated[str, StringConstraints(max_length=100)]
    message: str
    error_name: str
    error_cause: str
