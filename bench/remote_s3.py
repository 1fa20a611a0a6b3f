"""The SSH backup's data path with S3 in its own process (issue 15, part 3).

On AWS, S3 is another machine; in the local plane moto answers in the plane's own process, so every part upload
competes with the SSH reader, the SHA-256 and the part queue for the interpreter (and, on 2 cores, for the CPU
pg_dump needs). Here moto's standalone server (``python -m moto.server``) runs as its own process on 127.0.0.1 and
the product's ``stream_dump`` (the BackupDump task's data path: the SSH runner, ``backup_dump.sh`` with its
snapshot and row counts, ``pump`` and the multipart upload) writes to it. The phases say where the time over a raw
``pg_dump`` goes: the SSH session, the host's start (snapshot export, then pg_dump), the body, the completion.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from bench.probes import MIB
from freshtrack_ops import runtime
from freshtrack_ops.adapters.s3_store import S3BackupStore
from freshtrack_ops.backup.plan import backup_keys
from freshtrack_ops.backup.stream import stream_dump
from freshtrack_ops.config import SsmTarget, StoredCompression
from freshtrack_ops.models import BackupPlan
from freshtrack_ops.ports import BackupStore, ByteStream, CommandResult, HostRunner, MultipartUpload
from opsctl.local.plane import LocalPlane

BUCKET = "bench-remote"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class RemoteS3:
    client: Any  # a boto3 S3 client on the server's endpoint
    store: S3BackupStore


@contextlib.contextmanager
def remote_s3() -> Iterator[RemoteS3]:
    """moto's server in a process of its own on 127.0.0.1, with one bucket; stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto's server did not start on 127.0.0.1:{port}") from None
                time.sleep(0.2)
        yield RemoteS3(client=client, store=S3BackupStore(client, BUCKET))
    finally:
        server.terminate()
        server.wait(timeout=10)


class _TimedStream:
    """Records when the first and the last byte arrived (seconds since ``t0``)."""

    def __init__(self, stream: ByteStream, t0: float) -> None:
        self._stream, self._t0 = stream, t0
        self.first_s: float | None = None
        self.last_s = 0.0

    def read(self, size: int) -> bytes:
        chunk = self._stream.read(size)
        if chunk:
            now = time.perf_counter() - self._t0
            self.first_s = now if self.first_s is None else self.first_s
            self.last_s = now
        return chunk

    def finish(self) -> CommandResult:
        return self._stream.finish()


class _PhaseRunner:
    """The runner, with the time its stream opened (SSH session + exec) and a timed stream."""

    def __init__(self, runner: HostRunner, t0: float) -> None:
        self._runner, self._t0 = runner, t0
        self.opened_s = 0.0
        self.timed: _TimedStream | None = None

    @contextlib.contextmanager
    def stream(self, script: str, env: dict[str, str], *, timeout_s: float) -> Iterator[ByteStream]:
        with self._runner.stream(script, env, timeout_s=timeout_s) as stream:
            self.opened_s = time.perf_counter() - self._t0
            self.timed = _TimedStream(stream, self._t0)
            yield self.timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


class _CompleteTimer:
    """The store, with the time CompleteMultipartUpload took."""

    def __init__(self, store: BackupStore) -> None:
        self._store = store
        self.complete_s = 0.0

    def start_upload(self, key: str, *, content_type: str, metadata: dict[str, str]) -> MultipartUpload:
        upload = self._store.start_upload(key, content_type=content_type, metadata=metadata)
        timer = self

        class Timed:
            def __init__(self) -> None:
                self.key, self.upload_id = upload.key, upload.upload_id

            def upload_part(self, data: bytes) -> None:
                upload.upload_part(data)

            def complete(self) -> int:
                started = time.perf_counter()
                parts = upload.complete()
                timer.complete_s = time.perf_counter() - started
                return parts

            def abort(self) -> None:
                upload.abort()

        return Timed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class RemoteStreamRun:
    total_s: float
    session_s: float  # SSH connection, authentication and the exec of backup_dump.sh
    first_byte_s: float  # ...then the host's start: the snapshot session exported, pg_dump started
    body_s: float  # first to last byte
    complete_s: float  # CompleteMultipartUpload
    size_bytes: int
    sha256_ok: bool


def run_remote_stream(plane: LocalPlane, compression: StoredCompression, s3: RemoteS3) -> RemoteStreamRun:
    """``stream_dump`` of the demo target (SSH) into ``store`` (S3 in its own process), timed by phase."""
    target = plane.target("demo")
    if isinstance(target, SsmTarget):
        raise RuntimeError("the demo target is reached over SSM: this measures the SSH data path")
    now = datetime.now(UTC)
    backup_id = f"demo-{now:%Y%m%dT%H%M%SZ}-{now.microsecond:08x}"
    dump_key, manifest_key = backup_keys("demo", backup_id, f"{now:%Y/%m/%d}")
    plan = BackupPlan(
        backup_id=backup_id,
        host="demo",
        trigger="console",
        reason="benchmark",
        execution_id=f"bench-{backup_id}",
        started_at=now,
        dump_key=dump_key,
        manifest_key=manifest_key,
        lock_lease_seconds=300,
    )
    t0 = time.perf_counter()
    runner = _PhaseRunner(runtime.runner_for(target), t0)
    timed_store = _CompleteTimer(s3.store)
    try:
        result = stream_dump(plan, target, runner, timed_store, compression=compression)  # type: ignore[arg-type]
    finally:
        runner.close()
    total = time.perf_counter() - t0
    body = s3.client.get_object(Bucket=BUCKET, Key=plan.dump_key)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(MIB), b""):
        digest.update(chunk)
    s3.client.delete_object(Bucket=BUCKET, Key=plan.dump_key)
    timed = runner.timed
    first = timed.first_s if timed is not None and timed.first_s is not None else 0.0
    last = timed.last_s if timed is not None else 0.0
    return RemoteStreamRun(
        total_s=round(total, 3),
        session_s=round(runner.opened_s, 3),
        first_byte_s=round(first - runner.opened_s, 3),
        body_s=round(last - first, 3),
        complete_s=round(timed_store.complete_s, 3),
        size_bytes=result.size_bytes,
        sha256_ok=digest.hexdigest() == result.sha256,
    )
