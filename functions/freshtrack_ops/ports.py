"""Ports: what the domain needs from the outside world. Adapters implement these."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from freshtrack_ops.adapters.pending import PendingCommand
    from freshtrack_ops.adapters.undo_log import UndoEntry, UndoKind
    from freshtrack_ops.config import SsmTarget
    from freshtrack_ops.update.models import DeploymentOutcome


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


class ByteStream(Protocol):
    """A running host command whose stdout is read as a byte stream."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end of the stream."""
        ...

    def finish(self) -> CommandResult:
        """Wait for the command to end; stdout is empty (it was streamed), stderr complete."""
        ...


class HostRunner(Protocol):
    """Runs the shell scripts in host_scripts/ on one host, parameters passed as environment."""

    def run(
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: Iterable[bytes] | None = None
    ) -> CommandResult:
        """Run to the end. ``stdin`` chunks are fed from a thread; if the command exits before reading
        them all, feeding stops quietly (the caller can still consume the rest of its iterable)."""
        ...

    def stream(self, script: str, env: Mapping[str, str], *, timeout_s: float) -> AbstractContextManager[ByteStream]:
        """Start ``script`` and stream its stdout; the context closes the command on exit."""
        ...

    def close(self) -> None: ...


class MultipartUpload(Protocol):
    key: str
    upload_id: str

    def upload_part(self, data: bytes) -> None: ...

    def complete(self) -> int:
        """Finish the object; returns the number of parts."""
        ...

    def abort(self) -> None: ...


class BackupStore(Protocol):
    def start_upload(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> MultipartUpload: ...

    def put_json(self, key: str, body: str) -> None: ...

    def put_log(self, key: str, body: str) -> None: ...

    def put_text(self, key: str, body: str, content_type: str = "text/plain; charset=utf-8") -> None: ...

    def get_text(self, key: str) -> str: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def abort_incomplete_uploads(self, key: str) -> int:
        """Abort every in-progress multipart upload of ``key``; returns how many."""
        ...

    def iter_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]: ...


class LockTable(Protocol):
    def acquire(self, host: str, owner: str, lease_seconds: int, purpose: str) -> int:
        """Take the host lock or raise LockHeld; returns the lease expiry (epoch seconds)."""
        ...

    def release(self, host: str, owner: str) -> bool:
        """Release if ``owner`` holds it; True when something was released."""
        ...

    def holder(self, host: str) -> tuple[str, str] | None:
        """(owner, purpose) of the current lock, or None when the host is free."""
        ...


@dataclass(frozen=True)
class CatalogEntry:
    host: str
    backup_id: str
    dump_key: str
    manifest_key: str
    size_bytes: int
    finished_at: str
    verification_status: str = "unverified"
    verified_at: str | None = None
    #: how fast this backup's pg_dump read the database (MB of pg_database_size per second), when known
    dump_rate_mb_s: float | None = None

    @property
    def sort_key(self) -> str:
        return f"BACKUP#{self.finished_at}#{self.backup_id}"


class Catalog(Protocol):
    """The list of complete backups per host (a backup is catalogued only once its manifest exists)."""

    def record_backup(self, entry: CatalogEntry, manifest_json: str) -> None: ...

    def set_verification(self, entry: CatalogEntry, status: str, verified_at: str, manifest_json: str) -> None: ...

    def list_backups(self, host: str) -> list[CatalogEntry]:
        """Newest first."""
        ...

    def forget(self, entry: CatalogEntry) -> None:
        """Remove the entry (its backup no longer exists); a missing entry is not an error."""
        ...


class TagStore(Protocol):
    """Object tags of the current version of a backup object (retention)."""

    def get_tags(self, key: str) -> dict[str, str] | None:
        """The tags, or None when the object is gone."""
        ...

    def put_tags(self, key: str, tags: dict[str, str]) -> None: ...


class RetentionCatalog(Protocol):
    """What retention needs from the catalog."""

    def list_backups(self, host: str) -> list[CatalogEntry]:
        """Newest first."""
        ...

    def forget(self, entry: CatalogEntry) -> None:
        """Remove the entry (its backup no longer exists); a missing entry is not an error."""
        ...


class PresignedUploads(Protocol):
    """The data path through presigned URLs: the host moves the bytes, holding no AWS credentials."""

    def start(self, key: str, *, parts: int, expires_s: int, metadata: Mapping[str, str]) -> tuple[str, str, str]:
        """A multipart upload of ``key`` and its list of part URLs: (upload id, list key, GET URL of the list)."""
        ...

    def fresh_part_urls(self, key: str, upload_id: str, *, first: int, last: int, expires_s: int, stamp: int) -> str:
        """A GET URL of fresh URLs for parts ``first..last`` of a running upload."""
        ...

    def object_url(self, key: str, expires_s: int) -> str:
        """A GET URL of a stored object."""
        ...

    def complete(self, key: str, upload_id: str, report: str, *, part_size: int) -> tuple[int, str, int]:
        """Complete the upload from the host's report: (size, sha256, parts); aborts it on any inconsistency."""
        ...

    def abort(self, key: str, upload_id: str) -> None: ...

    def discard_lists(self, list_key: str) -> None:
        """Delete an upload's lists of part URLs (they are credentials)."""
        ...


class TransferObjects(Protocol):
    """Small objects a host over SSM PUTs or GETs with a presigned URL instead of a command's output or parameter
    (content SSM must never keep); deleted, every version, once the command ended."""

    def put(self, key: str, body: bytes) -> None: ...

    def get(self, key: str, *, max_bytes: int) -> bytes: ...

    def put_url(self, key: str, expires_s: int) -> str: ...

    def get_url(self, key: str, expires_s: int) -> str: ...

    def delete(self, key: str) -> int:
        """Delete every version of ``key``; how many there were."""
        ...


@dataclass(frozen=True)
class PendingApproval:
    execution_id: str
    task_token: str
    host: str
    backup_id: str
    expires_at: int


class ApprovalStore(Protocol):
    """Restores waiting for an operator's answer: their task tokens, kept out of every message."""

    def put(self, approval: PendingApproval) -> None: ...

    def get(self, execution_id: str) -> PendingApproval | None: ...

    def delete(self, execution_id: str) -> None: ...


class TaskCallbacks(Protocol):
    """Completing a workflow task that waits with a task token."""

    def succeed(self, token: str, output: Mapping[str, object]) -> None: ...

    def fail(self, token: str, exc: BaseException) -> None:
        """Fail the task with the error's class name (the ASL error name) and its message as the cause."""
        ...


class Notifier(Protocol):
    def publish(self, subject: str, message: str) -> None: ...


class ChatWebhook(Protocol):
    """A Slack-compatible incoming webhook (adapters/chat_webhook.py)."""

    def post(self, body: bytes) -> tuple[int, str | None]:
        """POST the JSON ``body`` once: (HTTP status, Retry-After header or None). A request that got no answer
        (refused, reset, timed out) raises ``ChatUnreachable`` naming what happened, never the URL."""
        ...


class CommandSender(Protocol):
    """SSM Run Command: host scripts sent as documents, their results read back."""

    def send(self, target: SsmTarget, script: str, env: Mapping[str, str]) -> str:
        """Send the script's document with ``env`` as parameters; the command id."""
        ...

    def status(self, command_id: str, instance_id: str) -> CommandResult | None:
        """The finished command's result, None while it runs; a named error when it did not run to an exit."""
        ...

    def cancel(self, command_id: str, instance_id: str) -> None: ...

    def take_exchange_key(self, command_id: str) -> str:
        """The host exchange object ``send`` stored the command's credentials in ("" when none), to record with
        the pending command."""
        ...

    def discard_exchange(self, exchange_key: str) -> None:
        """Delete a host exchange object whose command has ended ("" : nothing)."""
        ...


class PendingCommandStore(Protocol):
    """Which workflow task waits for which SSM command (adapters/pending.py)."""

    def put(self, pending: PendingCommand) -> None: ...

    def get(self, command_id: str) -> PendingCommand | None: ...

    def claim(self, command_id: str) -> bool:
        """Mark the record handled; False when another delivery of the event got there first."""
        ...

    def delete(self, pending: PendingCommand) -> None: ...

    def of_execution(self, execution_id: str) -> list[tuple[str, str]]:
        """(command id, instance id) of every command still pending for ``execution_id``."""
        ...


class UndoLog(Protocol):
    """What each execution started on a host and has not finished yet (adapters/undo_log.py)."""

    def record(self, execution_id: str, entry: UndoEntry) -> None: ...

    def resolve(self, execution_id: str, keys: Iterable[str]) -> None: ...

    def of_execution(self, execution_id: str, kinds: Iterable[UndoKind] | None = None) -> list[UndoEntry]: ...


class DeploymentHistory(Protocol):
    """What each update of a host did (adapters/dynamo.py: ``DEPLOY#`` items in the ops table)."""

    def record_deployment(self, outcome: DeploymentOutcome) -> None: ...

    def deployments(self, host: str) -> list[DeploymentOutcome]:
        """Newest first."""
        ...


@dataclass(frozen=True)
class FleetHalt:
    """Why a fleet stopped starting nested updates: the first host that failed, or an operator."""

    by: str
    reason: str
    at: int


class FleetGate(Protocol):
    """Whether a fleet may still start nested updates (adapters/dynamo.py: one ``FLEET#`` item per fleet)."""

    def claim(self, execution_id: str, host: str) -> FleetHalt | None:
        """Record ``host`` as started unless the fleet was halted: None when it may start, else the halt. Atomic
        with ``halt``: every host either was claimed before the halt (and runs) or is refused after it."""
        ...

    def halt(self, execution_id: str, by: str, reason: str) -> FleetHalt:
        """Halt the fleet; the first halt is kept. Returns the halt in force."""
        ...

    def halted(self, execution_id: str) -> FleetHalt | None: ...


#: EC2's instance states (DescribeInstances ``State.Name``)
InstanceState = Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]


@dataclass(frozen=True)
class InstanceInfo:
    """An EC2 instance as a scale sees it."""

    instance_id: str
    state: InstanceState
    instance_type: str
    availability_zone: str


class InstanceControl(Protocol):
    """Stopping, resizing and starting one EC2 instance (adapters/ec2_instances.py). Each call returns as soon as EC2
    took the request; the workflow polls ``describe`` until the state it waits for (never a sleeping task)."""

    def describe(self, instance_id: str) -> InstanceInfo: ...

    def stop(self, instance_id: str) -> None: ...

    def start(self, instance_id: str) -> None:
        """InstanceCapacityUnavailable when EC2 will not start it with its type (it stays stopped)."""
        ...

    def set_instance_type(self, instance_id: str, instance_type: str) -> None:
        """InstanceStateWrong unless the instance is stopped; InvalidInput for a type EC2 does not know."""
        ...
