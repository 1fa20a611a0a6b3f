"""Ports: what the domain needs from the outside world. Adapters implement these."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


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
