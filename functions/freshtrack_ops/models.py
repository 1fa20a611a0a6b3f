"""Pydantic models of what flows between states: execution inputs, task inputs and outputs.

Only ids, keys and small facts travel between states (Step Functions caps state data at 256 KB);
the dump itself never does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from freshtrack_ops.config import INSTANCE_ID_PATTERN, StoredCompression
from freshtrack_ops.explain import CaughtError
from freshtrack_ops.fields import HostRef, Reason, Strict, Trigger

BACKUP_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{8}$"
BackupId = Annotated[str, StringConstraints(pattern=BACKUP_ID_PATTERN)]
S3Key = Annotated[str, StringConstraints(pattern=r"^backups/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/[A-Za-z0-9.-]+$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ExecutionArn = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$"
    ),
]


class BackupRequest(Strict):
    """Execution input of the backup workflow (console, schedule, webhook or another workflow)."""

    host: HostRef = Field(description="Target id from the deployment configuration", examples=["prod"])
    trigger: Trigger = Field(
        default="console",
        description=(
            "What started the backup: schedule, console, webhook, pre-update, pre-restore, pre-rollback"
            " or pre-maintenance"
        ),
    )
    reason: Reason = Field(
        default="",
        description="Free text shown in the manifest and the notification",
        examples=["before the v1.3 update"],
    )


class ValidateBackupEvent(Strict):
    """What the first state hands to the validator: the raw input plus execution context."""

    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    started_at: datetime


class BackupPlan(Strict):
    """The validated request with everything later states need to find their objects."""

    backup_id: BackupId
    host: HostRef
    trigger: Trigger
    reason: Reason
    execution_id: str
    started_at: datetime
    dump_key: S3Key
    manifest_key: S3Key
    lock_lease_seconds: int
    #: the newest measured pg_dump rate of this host (MB of database per second), if any backup measured one
    dump_rate_mb_s: float | None = None


class HostEvent(Strict):
    """A task that acts on one host with a validated plan."""

    plan: BackupPlan


class PreflightReport(Strict):
    server_version: str
    pg_dump_version: str
    app_version: str
    free_disk_mb: int
    database_size_bytes: int
    #: how long the dump should take: the database size at the measured rate (or the target's assumed one);
    #: the dump task compares it with its own budget to stream inline or run a host job
    estimated_dump_s: float | None = None
    #: the compression the dump writes: the target's setting, ``auto`` resolved for this host (backup/compression.py)
    compression: StoredCompression | None = None
    #: MB free on the filesystem of PostgreSQL's data directory (``df -Pm`` of ``SHOW data_directory`` inside the
    #: database container; None when the server would not say): what a restore by swap needs room on
    pgdata_free_mb: int | None = None


class DumpEvent(Strict):
    """The dump task: the plan, and the preflight report (its database size sizes the SSM upload)."""

    plan: BackupPlan
    preflight: PreflightReport | None = None


class DumpResult(Strict):
    dump_key: S3Key
    size_bytes: int
    sha256: Sha256Hex
    parts: int
    row_counts: dict[str, int]
    compression: str
    started_at: datetime
    finished_at: datetime
    duration_s: float


class ManifestEvent(Strict):
    plan: BackupPlan
    preflight: PreflightReport
    dump: DumpResult


class Verification(Strict):
    status: Literal["unverified", "passed", "failed"] = "unverified"
    checked_at: datetime | None = None
    detail: str = ""


class Manifest(Strict):
    """Written next to each dump as <backup-id>.manifest.json: the backup's identity card."""

    format_version: Literal[1] = 1
    backup_id: BackupId
    host: HostRef
    database: str
    pg_server_version: str
    pg_dump_version: str
    app_version: str
    dump_format: Literal["pg_dump-custom"] = "pg_dump-custom"
    compression: str
    dump_key: S3Key
    size_bytes: int
    sha256: Sha256Hex
    started_at: datetime
    finished_at: datetime
    row_counts: dict[str, int]
    trigger: Trigger
    reason: Reason
    execution_id: str
    verification: Verification = Verification()
    #: pg_database_size when the dump started, and how long the dump took (the next backup's rate estimate)
    database_size_bytes: int | None = None
    dump_seconds: float | None = None


class BackupOutput(Strict):
    """Execution output of the backup workflow."""

    backup_id: BackupId
    host: HostRef
    dump_key: S3Key
    manifest_key: S3Key
    size_bytes: int
    sha256: Sha256Hex
    duration_s: float


class CleanupEvent(Strict):
    """Failure-path cleanup of a backup: abort its uploads and remove its dump if it has no manifest."""

    plan: BackupPlan


class CleanupResult(Strict):
    aborted_uploads: int
    deleted_objects: list[str]


# -- restores ---------------------------------------------------------------------------------------
DatabaseName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]


class TestRestoreRequest(Strict):
    """Execution input of the non-destructive test-restore workflow."""

    __test__ = False  # not a pytest test class

    host: HostRef = Field(description="Target id from the deployment configuration")
    backup_id: BackupId | Literal["latest"] = Field(
        default="latest", description="The backup to test-restore: a backup id, or latest (the newest backup)"
    )


class RestoreRequest(Strict):
    """Execution input of the destructive restore workflow."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    backup_id: BackupId | Literal["latest-verified"] = Field(
        description=(
            "The backup to restore: a backup id, or latest-verified (the newest backup whose test restore passed)"
        )
    )
    confirm: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None,
        description="The target's database name, typed (may be left out when restore.approval is configured)",
        examples=["frostguard"],
    )
    reason: Reason = Field(default="", description="Free text shown in the notification and the audit")
    on_behalf_of: ExecutionArn | None = Field(
        default=None,
        description=(
            "The update or rollback execution whose host lock this restore runs under, as its database "
            "rollback (no approval asked)"
        ),
    )
    load_while_running: bool | None = Field(
        default=None,
        description=(
            "Restore by swap: load while the application runs and stop it only for the swap (default: "
            "the target's restore.load_while_running)"
        ),
    )


class BackupRef(Strict):
    """Where a catalogued backup lives; enough to fetch its manifest and dump."""

    host: HostRef
    backup_id: BackupId
    dump_key: S3Key
    manifest_key: S3Key


class ValidateRestoreEvent(Strict):
    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    started_at: datetime


class TestRestorePlan(Strict):
    __test__ = False
    host: HostRef
    backup: BackupRef
    scratch_db: DatabaseName
    execution_id: str


class RestorePlan(Strict):
    host: HostRef
    backup: BackupRef
    database: DatabaseName
    approval_required: bool
    approval_timeout_s: int
    reason: Reason
    execution_id: str
    lock_lease_seconds: int
    #: whose lock the restore works under: its own execution, or the update it is the rollback of
    lock_owner: str
    lock_held_by_parent: bool = False
    #: the safety backup of the current database, taken through the backup tasks (trigger pre-restore)
    safety: BackupPlan
    safety_backup: BackupRef
    #: restore by swap (restore.swap): the new database the backup is loaded into, and the name the live database
    #: is renamed to (restore/swap.py); whether it is taken is decided on the host (RestoreDecide)
    swap_enabled: bool
    incoming: DatabaseName
    aside: DatabaseName
    load_while_running: bool
    keep_aside_hours: float


class RestoreDecideEvent(Strict):
    """Swap or the old path: the restore's plan and the host's preflight (disk, database size)."""

    action: Literal["decide"]
    plan: RestorePlan
    preflight: PreflightReport


class RestorePathResult(Strict):
    path: Literal["swap", "drop"]
    needed_mb: int
    free_mb: int
    reason: str


class AsideRecord(Strict):
    """A restore's previous database, renamed aside by swap-in (catalog: pk HOST#<host>, sk ASIDE#<name>)."""

    host: HostRef
    name: DatabaseName
    live: DatabaseName
    backup_id: BackupId
    execution_id: str
    created_at: datetime
    drop_after: datetime
    #: why its drop failed (kept for an operator; the drop-asides workflow leaves it alone)
    note: str | None = None


class AsideRecordEvent(Strict):
    action: Literal["record"]
    plan: RestorePlan


class DropAsidesRequest(Strict):
    """Execution input of the drop-asides workflow: one target, or all (the hourly schedule)."""

    host: HostRef | None = Field(default=None, description="Target id; unset: every target")


class AsidesDueEvent(Strict):
    action: Literal["due"]
    request: DropAsidesRequest


#: what a due database of the drop-asides run is: a restore's aside (dropped with drop-aside), or a leftover its
#: owner could not drop (restore/leftover.py): a restore's incoming database (drop-incoming) or a test restore's
#: scratch database (drop-scratch)
DropKind = Literal["aside", "incoming", "scratch"]
LeftoverKind = Literal["incoming", "scratch"]


class AsideDue(Strict):
    host: HostRef
    name: DatabaseName
    live: DatabaseName
    kind: DropKind = "aside"


class AsidesDueResult(Strict):
    asides: list[AsideDue]


class AsideForgetEvent(Strict):
    action: Literal["forget"]
    host: HostRef
    name: DatabaseName
    kind: DropKind = "aside"
    #: the drop's error as the Catch handed it on (the record is kept, marked); None: dropped, the record goes
    error: CaughtError | None = None


class AsideDropResult(Strict):
    host: HostRef
    name: DatabaseName
    kind: DropKind = "aside"
    error: str | None = None


class LeftoverRecord(Strict):
    """An incoming or scratch database its own execution failed to drop (catalog: pk HOST#<host>, sk
    LEFTOVER#<name>), written by that execution after its last drop attempt; the drop-asides run drops it."""

    host: HostRef
    name: DatabaseName
    live: DatabaseName
    kind: LeftoverKind
    #: the execution that created it (its name is derived from this id: restore/leftover.py)
    execution_id: str
    created_at: datetime
    #: why the owner's own drop failed
    error: str
    #: why the sweep's drop failed (kept for an operator; later runs leave it alone)
    note: str | None = None


class LeftoverRecordEvent(Strict):
    """A restore's DropIncoming/DropFailedIncoming or a test restore's DropScratchAfterFailure failed: hand the
    database over to the drop-asides run."""

    action: Literal["leftover"]
    host: HostRef
    #: the live database the leftover's name was derived from (unset: the target's, as a test restore's plan has it)
    live: DatabaseName | None = None
    name: DatabaseName
    kind: LeftoverKind
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    error: CaughtError


class LeftoverRecordResult(Strict):
    record: LeftoverRecord
    #: one sentence for the failure notification
    message: str


class AsideReportEvent(Strict):
    action: Literal["report"]
    results: list[AsideDropResult]


#: the RestoreSwap task's event: the swap-or-drop decision, one of the aside catalog's four actions, or a leftover
#: handed over to the drop-asides run
RestoreSwapEvent = Annotated[
    RestoreDecideEvent | AsideRecordEvent | AsidesDueEvent | AsideForgetEvent | AsideReportEvent | LeftoverRecordEvent,
    Field(discriminator="action"),
]


class AsideReportResult(Strict):
    dropped: int
    kept: int
    #: of ``dropped``: leftover incoming and scratch databases (the rest were asides)
    leftovers_dropped: int = 0
    #: the notification's subject (when ``notify``)
    subject: str = ""
    notify: bool
    message: str


class VerifyEvent(Strict):
    backup: BackupRef


class VerifyResult(Strict):
    backup_id: BackupId
    sha256: Sha256Hex
    size_bytes: int
    toc_entries: int


DatabaseAction = Literal[
    "create-scratch",
    "drop-scratch",
    "recreate-live",
    "create-incoming",
    "drop-incoming",
    "swap-in",
    "swap-back",
    "drop-aside",
]


class DatabaseEvent(Strict):
    """One database.sh action (see the script's header). ``database`` is TARGET_DB: the scratch or incoming
    database, the live one for recreate-live, the aside itself for drop-aside."""

    host: HostRef
    action: DatabaseAction
    database: DatabaseName
    #: the live database's name, typed again: recreate-live, swap-in and swap-back
    confirm: str = ""
    #: the previous live database, renamed aside by swap-in: swap-in, swap-back and drop-aside only
    aside: DatabaseName | None = None


class DatabaseActionResult(Strict):
    """What database.sh said it did."""

    result: str


class LoadEvent(Strict):
    """Stream ``backup`` from S3 into ``database`` on the host."""

    backup: BackupRef
    database: DatabaseName
    #: the server to load into when it is not the backup's own (a disaster recovery's replacement)
    host: HostRef | None = None


class LoadResult(Strict):
    backup_id: BackupId
    database: DatabaseName
    size_bytes: int
    duration_s: float


class CountsEvent(Strict):
    backup: BackupRef
    database: DatabaseName
    #: the server whose database is counted when it is not the backup's own (a disaster recovery's replacement)
    host: HostRef | None = None


class CountsResult(Strict):
    database: DatabaseName
    tables: int
    rows: int
    row_counts: dict[str, int]


class ServicesEvent(Strict):
    host: HostRef
    action: Literal["stop", "start", "status"]
    #: empty = the target's app_services (backend, worker)
    services: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")], ...] = ()


class ServicesResult(Strict):
    states: dict[str, str]


class HealthEvent(Strict):
    host: HostRef


class HealthResult(Strict):
    url: str
    http_status: int
    services: dict[str, str]


class RecordVerificationEvent(Strict):
    backup: BackupRef
    passed: bool
    detail: Annotated[str, StringConstraints(max_length=2000)] = ""


class ApprovalEvent(Strict):
    plan: RestorePlan
    task_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class ChainEvent(Strict):
    """After a backup: start its test restore when the target asks for it."""

    result: BackupOutput


class ChainResult(Strict):
    started: bool
    execution_arn: str = ""
    reason: str = ""


class CommandStatusDetail(BaseModel):
    """``detail`` of EventBridge's "EC2 Command Invocation Status-change Notification" (source aws.ssm)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    command_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")] = Field(alias="command-id")
    instance_id: Annotated[str, StringConstraints(pattern=INSTANCE_ID_PATTERN)] = Field(alias="instance-id")
    status: Annotated[str, StringConstraints(max_length=64)]
    document_name: str = Field(default="", alias="document-name")


class CommandStatusEvent(EventBridgeModel):
    detail: CommandStatusDetail
