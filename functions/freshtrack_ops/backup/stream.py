"""Stream pg_dump from the host into a multipart upload, hashing on the fly.

Memory stays bounded by a few parts: the reader fills one part while at most ``QUEUE_PARTS`` wait for
the single upload thread. Nothing is written to /tmp or held whole in memory. Any failure aborts the
multipart upload before the error propagates.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from freshtrack_ops.backup.compression import METHODS
from freshtrack_ops.config import StoredCompression, Target
from freshtrack_ops.errors import DumpFailed, UploadFailed
from freshtrack_ops.host_command import tail
from freshtrack_ops.host_env import dump_env
from freshtrack_ops.models import BackupPlan, DumpResult
from freshtrack_ops.ports import BackupStore, ByteStream, CommandResult, HostRunner, MultipartUpload

DEFAULT_PART_SIZE = 8 * 1024 * 1024
READ_SIZE = 1024 * 1024
QUEUE_PARTS = 2
IDLE_TIMEOUT_S = 300.0
ROWCOUNTS_PREFIX = "ROWCOUNTS "


@dataclass
class StreamStats:
    size: int
    sha256: str


class _Uploader:
    """One thread that uploads parts in order; remembers the first error and drains the rest."""

    def __init__(self, upload: MultipartUpload) -> None:
        self._upload = upload
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_PARTS)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="part-uploader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (part := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._upload.upload_part(part)
                except BaseException as exc:
                    self.error = exc

    def put(self, part: bytes) -> None:
        if self.error is not None:
            raise UploadFailed(f"upload of {self._upload.key} failed: {self.error}") from self.error
        self._queue.put(part)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise UploadFailed(f"upload of {self._upload.key} failed: {self.error}") from self.error


def pump(stream: ByteStream, upload: MultipartUpload, part_size: int) -> StreamStats:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray()
    uploader = _Uploader(upload)
    try:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
            buffer += chunk
            if len(buffer) >= part_size:
                uploader.put(bytes(buffer))
                buffer.clear()
        if buffer:
            uploader.put(bytes(buffer))
            buffer.clear()
    finally:
        uploader.close()
    return StreamStats(size=size, sha256=digest.hexdigest())


def parse_row_counts(stderr: str) -> dict[str, int]:
    for line in reversed(stderr.splitlines()):
        if line.startswith(ROWCOUNTS_PREFIX):
            raw = json.loads(line[len(ROWCOUNTS_PREFIX) :])
            return {str(table): int(count) for table, count in raw.items()}
    raise DumpFailed(f"the dump script reported no row counts: {tail(stderr)}")


class _MagicCheck:
    """Wraps a stream to check the first bytes are a pg_dump custom-format header (or the frame of the host's
    codec around one)."""

    def __init__(self, stream: ByteStream, magic: bytes) -> None:
        self._stream = stream
        self._magic = magic
        self._head = b""

    def read(self, size: int) -> bytes:
        chunk = self._stream.read(size)
        if len(self._head) < len(self._magic):
            self._head += chunk[: len(self._magic) - len(self._head)]
            if len(self._head) >= len(self._magic) and self._head != self._magic:
                raise DumpFailed(f"output is not a pg_dump custom-format archive (starts {self._head!r})")
        return chunk

    def finish(self) -> CommandResult:
        return self._stream.finish()


def stream_dump(
    plan: BackupPlan,
    target: Target,
    runner: HostRunner,
    store: BackupStore,
    *,
    compression: StoredCompression,
    part_size: int = DEFAULT_PART_SIZE,
    clock: Callable[[], float] = time.time,
) -> DumpResult:
    """``compression``: what the preflight chose for this host (steps/backup.py ``_stored``)."""
    started = clock()
    upload = store.start_upload(
        plan.dump_key,
        content_type="application/octet-stream",
        metadata={"backup-id": plan.backup_id, "host": plan.host, "format": "pg_dump-custom"},
    )
    try:
        with runner.stream("backup_dump.sh", dump_env(target, compression), timeout_s=IDLE_TIMEOUT_S) as stream:
            magic = METHODS[compression].magic
            stats = pump(_MagicCheck(stream, magic), upload, part_size)
            result = stream.finish()
        if result.exit_code != 0:
            raise DumpFailed(f"{target.id}: pg_dump exited {result.exit_code}: {tail(result.stderr)}")
        if stats.size < len(magic):
            raise DumpFailed(f"{target.id}: pg_dump produced {stats.size} bytes")
        row_counts = parse_row_counts(result.stderr)
        parts = upload.complete()
    except BaseException:
        upload.abort()
        raise
    finished = clock()
    return DumpResult(
        dump_key=plan.dump_key,
        size_bytes=stats.size,
        sha256=stats.sha256,
        parts=parts,
        row_counts=row_counts,
        compression=compression,
        started_at=datetime.fromtimestamp(started, UTC),
        finished_at=datetime.fromtimestamp(finished, UTC),
        duration_s=round(finished - started, 3),
    )
