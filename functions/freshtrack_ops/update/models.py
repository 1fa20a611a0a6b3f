"""What flows between the states of the update and rollback workflows: ids, versions, commits, image digests
and small facts only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.config import DR_ID_PATTERN
from freshtrack_ops.fields import HostRef, Reason, ServiceRef, Strict
from freshtrack_ops.host_scripts.parameters import (
    IMAGE_DIGEST_REF_BODY,
    IMAGE_DIGEST_REF_MAX_CHARS,
    TARGET_SPEC_MAX_CHARS,
    TARGET_SPEC_PATTERN,
    UPDATE_TARGET_BODY,
    VERSION_TAG_PATTERN,
)
from freshtrack_ops.jobs import DataContext
from freshtrack_ops.models import BackupPlan

UpdateKind = Literal["release", "images"]
#: what a deployment record says happened: an update of the code or of the images, or a rollback (workflow)
DeploymentKind = Literal["release", "images", "rollback"]
RollbackDatabase = Literal["auto", "always", "never"]
#: what an update request may name (a release tag, latest, branch:<name>)
UpdateVersion = Annotated[str, StringConstraints(pattern=f"^({UPDATE_TARGET_BODY})$", max_length=TARGET_SPEC_MAX_CHARS)]
#: what the control plane asks update_preflight.sh for: the request's version, commit:<sha> (a rollback) or
#: current (an image update)
TargetSpec = Annotated[str, StringConstraints(pattern=TARGET_SPEC_PATTERN, max_length=TARGET_SPEC_MAX_CHARS)]
VersionTag = Annotated[str, StringConstraints(pattern=VERSION_TAG_PATTERN)]
GitCommit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
UPDATE_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{8}$"
UpdateId = Annotated[str, StringConstraints(pattern=UPDATE_ID_PATTERN)]
DrId = Annotated[str, StringConstraints(pattern=DR_ID_PATTERN)]
#: ``<repository>@sha256:<64 hex>``: an image by its registry digest
ImageDigestRef = Annotated[
    str, StringConstraints(pattern=f"^{IMAGE_DIGEST_REF_BODY}$", max_length=IMAGE_DIGEST_REF_MAX_CHARS)
]


class UpdateRequest(Strict):
    """Execution input of the update workflow."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    version: UpdateVersion | None = Field(
        default=None,
        description=(
            "What to deploy (kind release): vX.Y.Z, latest (the newest release tag) or branch:<name> "
            "(fast-forward only); none for kind images"
        ),
        examples=["v1.3.0", "latest", "branch:main"],
    )
    kind: UpdateKind = Field(
        default="release",
        description=(
            "release: new code; images: the manual's Docker update (compose pull, deploy; rolled back "
            "by pinning the digests that ran before)"
        ),
    )
    reason: Reason = Field(
        default="",
        description="Free text shown in the deployment history and the notification",
        examples=["monthly release"],
    )
    rollback_database: RollbackDatabase = Field(
        default="auto",
        description=(
            "When a failed update is rolled back, restore the pre-update backup: auto (if the schema "
            "changed), always or never"
        ),
    )
    allow_downgrade: bool = Field(default=False, description="Allow a version older than the running one")


class UpdatePlan(Strict):
    update_id: UpdateId
    host: HostRef
    version: TargetSpec
    #: the branch a ``branch:<name>`` update stays on (empty for a release tag)
    branch: str
    kind: DeploymentKind
    #: what the notifications call it: "update to v1.3.0", "image update (docker compose pull)", "rollback to ..."
    subject: Annotated[str, StringConstraints(max_length=200)] = "update"
    #: docker compose pull before the deployment (an image update)
    pull_images: bool = False
    #: the commit the host must run now (a rollback: what the deployment history says it runs); None: any
    expected_commit: GitCommit | None = None
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
    #: the update's id, or a disaster recovery's (``bootstrap``: the first deployment of a replacement)
    update_id: UpdateId | DrId
    phase: Literal["update", "rollback", "bootstrap"]
    #: the manual's "Clear deployment checkpoints" (deploy-automated.sh --reset) first
    reset: bool = False
    #: the manual's Docker update: docker compose pull first
    pull_images: bool = False


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
    """What an update or rollback changed, recorded in the catalog (the rollback workflow's "previous" reads it)."""

    update_id: UpdateId
    host: HostRef
    #: records written before image updates and rollbacks existed are releases
    kind: DeploymentKind = "release"
    #: a rollback: the deployments it undid (newest first); "previous" never offers them again
    undoes: tuple[UpdateId, ...] = ()
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
    undoes: tuple[UpdateId, ...] = ()


class UpdateOutput(Strict):
    update_id: UpdateId
    host: HostRef
    from_version: str
    to_version: str
    backup_id: str
    schema_changed: bool
    duration_s: float
    #: whether the deployment history holds this outcome (the rollback workflow's "previous" reads it). A write
    #: that still fails after the SDK's retries (DynamoDB throttling, a 5xx) does not change what happened on the
    #: host: the update stays succeeded (or rolled back) and ``history_note`` says, in the notification, that the
    #: history has no record of it
    recorded: bool = True
    history_note: Annotated[str, StringConstraints(max_length=600)] = "Recorded in the deployment history."


# -- image updates -------------------------------------------------------------------------------------------
class RunningImage(Strict):
    """The image one service's container runs."""

    service: ServiceRef
    container: Annotated[str, StringConstraints(max_length=255)]
    #: what the compose file names (``repository:tag``)
    configured: Annotated[str, StringConstraints(max_length=512)]
    #: the image id (the digest of its configuration: never a pin)
    image_id: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
    #: the registry digests it was pulled by (none: built on the host)
    repo_digests: tuple[ImageDigestRef, ...] = ()


class ImagesRecord(Strict):
    """The images that ran before an image update (app_images.sh)."""

    images: tuple[RunningImage, ...]
    #: our override file with the pins of an earlier failed image update ("" when there is none)
    pinned_by: str = ""


class PinImagesEvent(Strict):
    host: HostRef
    update_id: UpdateId
    recorded: ImagesRecord


class PinResult(Strict):
    """What the image rollback pinned (service -> digest ref), what it could not, and a sentence saying so."""

    pinned: dict[str, ImageDigestRef]
    rebuilt: tuple[str, ...]
    not_pinned: tuple[str, ...]
    pin_file: str
    text: str


# -- the rollback workflow --------------------------------------------------------------------------------------
class RollbackRequest(Strict):
    """Execution input of the rollback workflow (the manual's Rollback Procedure, on demand)."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    to: Literal["previous"] | VersionTag = Field(
        default="previous",
        description=(
            "previous (undo the newest succeeded release deployment) or vX.Y.Z (undo every one back to "
            "the one that left vX.Y.Z)"
        ),
        examples=["previous", "v1.2.0"],
    )
    restore_database: RollbackDatabase = Field(
        default="auto",
        description=(
            "Restore the backup taken before the oldest deployment undone: auto (if one changed the "
            "schema), always or never"
        ),
    )
    confirm: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="The host id, typed: a rollback stops the application and may replace its database",
        examples=["prod"],
    )
    reason: Reason = Field(default="", description="Free text shown in the deployment history and the notification")


class RollbackPlan(Strict):
    """The rollback as an update to a commit that ran before (``update.version`` = ``commit:<sha>``, the
    pre-rollback backup as ``update.backup``), with what it undoes and what happens to the database."""

    update: UpdatePlan
    to_version: str
    to_commit: GitCommit
    #: the version the newest undone deployment put there (what should run now)
    from_version: str
    undoes: tuple[UpdateId, ...]
    #: the backup taken before the oldest deployment undone, to restore ("" keeps the database)
    restore_backup_id: str
    #: why the database is restored or kept (for the notification)
    database_decision: str
    #: what it undoes, in words (for the notification)
    summary: str
