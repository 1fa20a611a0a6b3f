"""Ports: what the domain needs from the outside world. Adapters implement these."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


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
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: BinaryIO | None = None
    ) -> CommandResult: ...

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


class Catalog(Protocol):
    def record_backup(self, manifest_json: str, *, host: str, backup_id: str, finished_at: str) -> None: ...
