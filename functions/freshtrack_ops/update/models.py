"""What flows between the update workflow's states: ids, versions, commits and small facts only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.host_scripts.parameters import TARGET_SPEC_MAX_CHARS, TARGET_SPEC_PATTERN
from freshtrack_ops.jobs import DataContext
from freshtrack_ops.models import BackupPlan, HostRef, Reason, Strict

UpdateKind = Literal["release", "images"]
RollbackDatabase = Literal["auto", "always", "never"]
TargetSpec = Annotated[str, StringConstraints(pattern=TARGET_SPEC_PATTERN, max_length=TARGET_SPEC_MAX_CHARS)]
GitCommit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
UPDATE_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{8}$"
UpdateId = Annotated[str, StringConstraints(pattern=UPDATE_ID_PATTERN)]


class UpdateRequest(Strict):
    """Execution input of the update workflow."""

    host: HostRef = Field(description="Target id from the deployment configuration.")
    version: TargetSpec = Field(
        description="vX.Y.Z (a release tag), latest (the newest release tag, pre-releases excluded) or "
        "branch:<name> (the tip of that branch of origin; fast-forward only)."
    )
    kind: UpdateKind = Field(default="release", description="release: new code; images: the manual's Docker update.")
    reason: Reason = ""
    rollback_database: RollbackDatabase = Field(
        default="auto",
        description="When a failed update is rolled back, restore the pre-update backup: auto (if the schema "
        "changed), always, never.",
    )
    allow_downgrade: bool = Field(default=False, description="Allow a target older than the running version.")


class UpdatePlan(Strict):
    update_id: UpdateId
    host: HostRef
    version: TargetSpec
    #: the branch a ``branch:<name>`` update stays on (empty for a release tag)
    branch: str
    kind: UpdateKind
    reason: Reason
    rollback_database: RollbackDatabase
    allow_downgrade: bool
    execution_id: str
    started_at: datetime
    lock_lease_seconds: int
    domain: str
    database: str
    #: the pre-update backup, taken through the backup tasks (trigger pre-update)
    backup: BackupPlan
    #: how many verification attempts (every VERIFY_INTERVAL_S) before the update counts as failed
    verify_attempts: int


class UpdateEvent(Strict):
    plan: UpdatePlan


class UpdatePreflightReport(Strict):
    current_version: str
    current_commit: GitCommit
    target_version: str
    target_commit: GitCommit
    target_is_tag: bool
    free_disk_mb: int
    downgrade: bool


class SchemaEvent(Strict):
    host: HostRef


class SchemaFingerprint(Strict):
    schema_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    migrations: int
    last_migration: str


class CheckoutEvent(Strict):
    host: HostRef
    commit: GitCommit
    #: check the commit out on this branch (a branch update); empty: detached at the commit
    branch: str = ""


class CheckoutResult(Strict):
    checked_out: GitCommit


class DeployEvent(Strict):
    host: HostRef
    update_id: UpdateId
    phase: Literal["update", "rollback"]
    #: the manual's "Clear deployment checkpoints" (deploy-automated.sh --reset) first
    reset: bool = False


class DeployContext(DataContext):
    started_at: float


class DeployResult(Strict):
    log_key: str
    duration_s: float


class VerifyDeploymentEvent(Strict):
    host: HostRef
    attempt: int = Field(ge=1)
    attempts: int = Field(ge=1)


class VerifyDeploymentResult(Strict):
    """``healthy`` false: try again (``attempt`` is the next one); the last attempt raises instead."""

    healthy: bool
    attempt: int
    detail: str = ""


class HostOnlyEvent(Strict):
    host: HostRef


class StepDone(Strict):
    """A host step whose result is only that it ran."""

    done: bool = True


class DeploymentOutcome(Strict):
    """What the update changed, recorded in the catalog (the rollback workflow's "previous" reads it)."""

    update_id: UpdateId
    host: HostRef
    from_version: str
    from_commit: GitCommit
    to_version: str
    to_commit: GitCommit
    backup_id: str
    schema_changed: bool
    outcome: Literal["succeeded", "rolled-back"]
    duration_s: float


class RecordDeploymentEvent(Strict):
    plan: UpdatePlan
    preflight: UpdatePreflightReport
    schema_before: SchemaFingerprint
    schema_after: SchemaFingerprint
    backup_id: str
    outcome: Literal["succeeded", "rolled-back"]


class UpdateOutput(Strict):
    update_id: UpdateId
    host: HostRef
    from_version: str
    to_version: str
    backup_id: str
    schema_changed: bool
    duration_s: float
