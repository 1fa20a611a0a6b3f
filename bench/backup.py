"""The backup measurements, each against the same local plane and database.

* raw: ``pg_dump -Fc > /dev/null`` through the host's docker shim (the physical limit);
* manual: the operations manual's way, dump to a file on the host then boto3 ``upload_file`` to S3;
* streamed: the real backup workflow (``plane.run("backup")``), StreamDump state and whole execution, over SSH
  (target ``demo``) and over SSM Run Command (target ``demo-ssm``: the same machine and database);
* ssh: one paramiko channel carrying more than 512 MiB (rekey-safe), bare and through ``pump`` into S3.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from psycopg.conninfo import make_conninfo

from bench.probes import (
    MIB,
    RssSampler,
    children_cpu_s,
    hwm_mb,
    malloc_trim,
    pid_from_file,
    reaped_children_cpu_s,
    reset_hwm,
    rss_mb,
    self_cpu_s,
)
from freshtrack_ops import host_scripts, runtime
from freshtrack_ops.adapters import presign
from freshtrack_ops.adapters.s3_store import S3BackupStore, S3MultipartUpload
from freshtrack_ops.adapters.ssh import SshRunner, SshStream, load_private_key
from freshtrack_ops.backup.compression import METHODS
from freshtrack_ops.backup.stream import IDLE_TIMEOUT_S, parse_row_counts, pump
from freshtrack_ops.config import BackupSettings, SsmTarget, StoredCompression
from freshtrack_ops.host_env import dump_env
from opsctl.local.host import LocalHost
from opsctl.local.plane import LocalPlane
from opsctl.local.seed import seed

#: ``pg_dump --compress`` value of each BackupSettings.compression (as the product's backup_dump.sh uses it).
COMPRESS_ARG: dict[StoredCompression, str | None] = {
    name: method.pg_dump_compress or None for name, method in METHODS.items()
}
#: the product's host library: the raw and manual runs of a ``*-stream`` compression pipe pg_dump through the very
#: ``archive_encode`` the backup scripts use
_ARCHIVE_LIB = (Path(host_scripts.__file__).parent / "lib" / "archive.sh").read_text(encoding="utf-8")
DB_NAME = "frostguard"
DB_ROLE = "frostguard"
#: the target reached over SSH (or the local transport) and the SSM target on the same machine and database
SSH_TARGET = "demo"
SSM_TARGET = "demo-ssm"
#: LocalPlane arguments: one host (one seeded database), reachable as SSH_TARGET and as SSM_TARGET
PLANE_HOSTS: dict[str, Any] = {"hosts": (SSH_TARGET,), "ssm_hosts": (), "ssm_aliases": {SSM_TARGET: SSH_TARGET}}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summary(values: list[float]) -> dict[str, Any]:
    """median/min/max of repeated runs (rounded), plus the runs themselves."""
    return {
        "median": round(_median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


# -- host facts ----------------------------------------------------------------------------------
def admin_conninfo(host: LocalHost) -> str:
    return make_conninfo(host=str(host.pg_socket_dir), port=host.pg_port, user="postgres", dbname="postgres")


def db_size_bytes(host: LocalHost) -> int:
    return int(host.sql("SELECT pg_database_size(%s)", (DB_NAME,))[0][0])


def settle(host: LocalHost) -> None:
    """Freeze and checkpoint after a bulk load so no hint-bit writes or checkpoints land inside a measurement."""
    host.sql("VACUUM (FREEZE, ANALYZE)")
    host.sql("CHECKPOINT")


def reseed(host: LocalHost, readings: int) -> None:
    seed(admin_conninfo(host), readings)
    settle(host)


def postmaster_pid(host: LocalHost) -> int | None:
    return pid_from_file(host.pg_datadir / "postmaster.pid")


def sshd_pid(host: LocalHost) -> int | None:
    return pid_from_file(host.state_dir / "sshd.pid")


def compression_support(host: LocalHost) -> dict[str, Any]:
    """Which ``--compress`` methods this pg_dump takes: its help line plus a schema-only trial of each."""
    pg_dump = str(host.pg_bindir / "pg_dump")
    help_text = subprocess.run([pg_dump, "--help"], capture_output=True, text=True, check=False).stdout
    help_line = next((line.strip() for line in help_text.splitlines() if "--compress" in line), "")
    methods: dict[str, Any] = {}
    for compression, arg in COMPRESS_ARG.items():
        codec = METHODS[compression].codec
        if codec:
            found = shutil.which(codec)
            methods[compression] = {"supported": found is not None, "error": None if found else f"no {codec} on PATH"}
            continue
        if arg is None:
            methods[compression] = {"supported": True}
            continue
        proc = _dump_process(host, arg, subprocess.DEVNULL, extra=["--schema-only"])
        methods[compression] = {"supported": proc.returncode == 0, "error": proc.stderr.strip()[-300:] or None}
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {"pg_dump_version": version, "help": help_line, "methods": methods}


# -- raw dump ------------------------------------------------------------------------------------
def _dump_argv(host: LocalHost, compress: str | None, extra: list[str] | None = None) -> list[str]:
    argv = [str(host.docker_bin), "compose", "exec", "-T", "postgres", "pg_dump", "-U", DB_ROLE, "-Fc"]
    if compress is not None:
        argv.append(f"--compress={compress}")
    return [*argv, *(extra or []), DB_NAME]


def _dump_process(
    host: LocalHost, compress: str | None, stdout: Any, extra: list[str] | None = None, codec: str = ""
) -> subprocess.CompletedProcess[str]:
    argv = _dump_argv(host, compress, extra)
    if codec:  # pg_dump -Z0 | archive_encode (lib/archive.sh), pipefail: either failing fails the run
        script = f"set -euo pipefail\n{_ARCHIVE_LIB}\n" + '"$@" | archive_encode'
        argv = ["bash", "-c", script, "dump", *argv]
    return subprocess.run(
        argv,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=host.app_dir,
        env={**os.environ, **host.env(), "ARCHIVE_CODEC": codec},
        check=False,
    )


@dataclass
class DumpRun:
    wall_s: float
    client_cpu_s: float  # pg_dump itself (custom format + zlib), via RUSAGE_CHILDREN
    server_cpu_s: float | None  # the backend(s) it used, via the postmaster's reaped-children CPU
    size_bytes: int


def run_dump(host: LocalHost, compression: StoredCompression, out: Path | None = None) -> DumpRun:
    """``pg_dump -Fc`` through the shim to ``out`` (or /dev/null), timed and CPU-accounted."""
    pm = postmaster_pid(host)
    cpu0, srv0 = children_cpu_s(), reaped_children_cpu_s(pm) if pm else None
    with (out or Path(os.devnull)).open("wb") as sink:
        started = time.perf_counter()
        proc = _dump_process(host, COMPRESS_ARG[compression], sink, codec=METHODS[compression].codec)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({proc.returncode}): {proc.stderr[-500:]}")
    time.sleep(0.05)  # let the postmaster reap the backend
    srv1 = reaped_children_cpu_s(pm) if pm else None
    return DumpRun(
        wall_s=wall,
        client_cpu_s=children_cpu_s() - cpu0,
        server_cpu_s=(srv1 - srv0) if srv0 is not None and srv1 is not None else None,
        size_bytes=out.stat().st_size if out else 0,
    )


# -- the manual's way ----------------------------------------------------------------------------
@dataclass
class ManualRun:
    dump_s: float
    upload_s: float
    total_s: float
    size_bytes: int
    dump_cpu_s: float
    upload_cpu_s: float


def run_manual(plane: LocalPlane, compression: StoredCompression, key: str) -> ManualRun:
    """Dump to a file on the host, then ``upload_file`` it (default TransferConfig) to the same bucket."""
    host = plane.host("demo")
    path = host.root / "manual-backup.dump"
    try:
        dump = run_dump(host, compression, path)
        s3 = plane.s3
        cpu0 = self_cpu_s()
        started = time.perf_counter()
        s3.upload_file(str(path), plane.bucket, key)
        upload = time.perf_counter() - started
        upload_cpu = self_cpu_s() - cpu0
        head = s3.head_object(Bucket=plane.bucket, Key=key)
        if int(head["ContentLength"]) != dump.size_bytes:
            raise RuntimeError(f"manual upload: {head['ContentLength']} bytes in S3, {dump.size_bytes} on disk")
        s3.delete_object(Bucket=plane.bucket, Key=key, VersionId=head["VersionId"])
    finally:
        path.unlink(missing_ok=True)
    return ManualRun(
        dump_s=dump.wall_s,
        upload_s=upload,
        total_s=dump.wall_s + upload,
        size_bytes=dump.size_bytes,
        dump_cpu_s=dump.client_cpu_s,
        upload_cpu_s=upload_cpu,
    )


# -- the streamed backup -------------------------------------------------------------------------
@dataclass
class CompleteMarks:
    """When the multipart upload was completed and the peak RSS reached before it (moto joins all parts).

    SSH path: ``S3MultipartUpload.complete``; SSM path: ``presign.complete_from_output`` (parses the host's
    report, ``complete_multipart_upload``, ``head_object``), called by HostCommandDone."""

    started: float = 0.0
    ended: float = 0.0
    hwm_before_mb: float = 0.0
    traced_peak_before_mb: float = 0.0  # tracemalloc's peak before complete(), when tracing


@contextlib.contextmanager
def _watch_complete() -> Iterator[CompleteMarks]:
    """Instrument the completion of the upload for one run, SSH path (``S3MultipartUpload.complete``) and SSM
    path (``presign.complete_from_output``): wrappers in this process; the code is untouched."""
    marks = CompleteMarks()
    original: Callable[[S3MultipartUpload], int] = S3MultipartUpload.complete
    original_ssm = presign.complete_from_output

    def mark_start() -> None:
        marks.hwm_before_mb = hwm_mb()
        if tracemalloc.is_tracing():
            marks.traced_peak_before_mb = tracemalloc.get_traced_memory()[1] / MIB
        marks.started = time.time()

    def complete(self: S3MultipartUpload) -> int:
        mark_start()
        try:
            return original(self)
        finally:
            marks.ended = time.time()

    def complete_from_output(*args: Any, **kwargs: Any) -> tuple[int, str, int]:
        mark_start()
        try:
            return original_ssm(*args, **kwargs)
        finally:
            marks.ended = time.time()

    S3MultipartUpload.complete = complete  # type: ignore[method-assign]
    presign.complete_from_output = complete_from_output
    try:
        yield marks
    finally:
        S3MultipartUpload.complete = original  # type: ignore[method-assign,assignment]
        presign.complete_from_output = original_ssm


@dataclass
class StreamRun:
    """One backup workflow run. SSH and SSM differ where noted (SSM: the target ``demo-ssm``)."""

    stream_state_s: float
    execution_s: float
    # the task result's duration_s: SSH, stream_dump's start_upload .. complete; SSM, from creating the upload
    # and presigning the part URLs (before SendCommand) to after complete_multipart_upload in HostCommandDone
    dump_s: float | None
    complete_s: float  # complete_multipart_upload in moto (it joins every part in memory)
    size_bytes: int
    parts: int
    sha256_ok: bool
    attempts: int
    baseline_rss_mb: float
    peak_rss_delta_mb: float  # streaming phase (until complete), above the baseline: the headline number
    peak_rss_abs_mb: float
    peak_rss_sampled_delta_mb: float  # the 50 ms sampler's view of the same phase
    peak_rss_with_complete_abs_mb: float  # including moto's in-process join of all parts
    # this process: SSH decryption, sha256, boto3 + moto, Step Functions interpreter; SSM: presigning, the
    # executor thread, moto's HTTP server taking the part PUTs, the completion Lambda, no SSH nor sha256
    plane_cpu_s: float
    server_cpu_s: float | None  # PostgreSQL backends (pg_dump's and the row-count session's)
    # the host's processes for the whole execution (preflight included): SSH, the sessions reaped by the sshd
    # listener (bash, psql, pg_dump client); SSM, this process's reaped children (the executor's /bin/sh, bash,
    # psql, pg_dump client, tee, sha256sum, split, curl), the RUSAGE_CHILDREN delta
    host_cpu_s: float | None
    states: dict[str, float] = field(default_factory=dict)


def _object_sha256(plane: LocalPlane, key: str) -> tuple[str, int]:
    body = plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"]
    digest, size = hashlib.sha256(), 0
    while chunk := body.read(8 * MIB):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def stream_python_heap_peak(plane: LocalPlane, compression: StoredCompression) -> dict[str, Any]:
    """One streamed backup under tracemalloc: peak live Python memory before complete(), above the start.

    Unlike RSS this ignores memory that was freed but kept by the allocator (moto, in-process, leaves a lot
    of that behind), so it shows what the streaming itself holds. Slower under tracing: not timed.
    """
    set_compression(plane, compression)
    gc.collect()
    tracemalloc.start()
    try:
        start_mb = tracemalloc.get_traced_memory()[0] / MIB
        with _watch_complete() as marks:
            ex = plane.run("backup", {"host": "demo", "trigger": "console", "reason": "benchmark (traced)"})
    finally:
        tracemalloc.stop()
    if ex.status != "SUCCEEDED" or ex.output is None:
        raise RuntimeError(f"traced backup {ex.status}: {ex.error}: {ex.cause}")
    return {
        "compression": compression,
        "size_mb": round(int(ex.output["size_bytes"]) / MIB, 2),
        "python_heap_peak_mb": round(marks.traced_peak_before_mb - start_mb, 1),
    }


def _task_result(history: list[dict[str, Any]], entered: Any, exited: Any) -> dict[str, Any]:
    """The BackupDump Lambda's result, from the last TaskSucceeded event inside the StreamDump state."""
    for event in reversed(history):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details and entered <= event["timestamp"] <= (exited or event["timestamp"]):
            body = json.loads(details.get("output") or "{}")
            payload = body.get("Payload", body) if isinstance(body, dict) else {}
            return payload if isinstance(payload, dict) else {}
    return {}


def set_compression(plane: LocalPlane, compression: StoredCompression, target: str = SSH_TARGET) -> None:
    """Switch ``target``'s backup compression (each target has its own backup settings)."""
    current = plane.target(target).backup
    plane.update_target(
        target, backup=BackupSettings.model_validate(current.model_dump() | {"compression": compression})
    )


def run_stream(plane: LocalPlane, compression: StoredCompression, target: str = SSH_TARGET) -> StreamRun:
    """One backup workflow on ``target`` (SSH_TARGET or SSM_TARGET), timed, CPU- and RSS-accounted, verified."""
    set_compression(plane, compression, target)
    host = plane.host(target)  # an SSM alias resolves to the same local machine
    over_ssm = plane.target(target).transport == "ssm"
    pm, sd = postmaster_pid(host), None if over_ssm else sshd_pid(host)
    srv0 = reaped_children_cpu_s(pm) if pm else None
    # SSM: the executor runs the document as a child of this process (its own session), reaped before the
    # command's completion event, so the script's process tree shows up in this process's children CPU
    host0 = children_cpu_s() if over_ssm else (reaped_children_cpu_s(sd) if sd else None)
    gc.collect()
    malloc_trim()
    with RssSampler() as sampler, _watch_complete() as marks:
        time.sleep(0.2)
        baseline = rss_mb()
        reset_hwm()
        cpu0 = self_cpu_s()
        ex = plane.run("backup", {"host": target, "trigger": "console", "reason": "benchmark"})
        plane_cpu = self_cpu_s() - cpu0
        peak_with_complete = hwm_mb()
    time.sleep(0.2)  # let sshd and the postmaster reap their sessions
    srv1 = reaped_children_cpu_s(pm) if pm else None
    host1 = children_cpu_s() if over_ssm else (reaped_children_cpu_s(sd) if sd else None)
    if ex.status != "SUCCEEDED" or ex.output is None:
        raise RuntimeError(f"backup on {target} {ex.status}: {ex.error}: {ex.cause}")
    if marks.started == 0.0:
        raise RuntimeError(f"backup on {target}: the upload's completion was not observed")
    runs = ex.states()
    dump_state = [r for r in runs if r.name == "StreamDump"][-1]
    attempts = sum(
        1
        for e in ex.history
        if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled")
        and dump_state.entered <= e["timestamp"] <= (dump_state.exited or e["timestamp"])
    )
    output = ex.output
    result = _task_result(ex.history, dump_state.entered, dump_state.exited)
    manifest = plane.manifest(output["manifest_key"])
    if manifest.get("compression") != compression:
        raise RuntimeError(
            f"backup on {target} ran with compression {manifest.get('compression')!r}, wanted {compression!r}"
        )
    digest, size = _object_sha256(plane, output["dump_key"])
    sha_ok = digest == output["sha256"] == manifest["sha256"] and size == output["size_bytes"]
    entered = dump_state.entered.timestamp()
    sampled = sampler.peak(entered, marks.started or time.time())
    peak_abs = marks.hwm_before_mb or sampled
    return StreamRun(
        stream_state_s=dump_state.duration_s,
        execution_s=ex.duration_s,
        dump_s=float(result["duration_s"]) if "duration_s" in result else None,
        complete_s=marks.ended - marks.started,
        size_bytes=int(output["size_bytes"]),
        parts=int(result.get("parts", 0)),
        sha256_ok=sha_ok,
        attempts=max(1, attempts),
        baseline_rss_mb=round(baseline, 1),
        peak_rss_delta_mb=round(peak_abs - baseline, 1),
        peak_rss_abs_mb=round(peak_abs, 1),
        peak_rss_sampled_delta_mb=round(sampled - baseline, 1),
        peak_rss_with_complete_abs_mb=round(peak_with_complete, 1),
        plane_cpu_s=round(plane_cpu, 2),
        server_cpu_s=round(srv1 - srv0, 2) if srv0 is not None and srv1 is not None else None,
        host_cpu_s=round(host1 - host0, 2) if host0 is not None and host1 is not None else None,
        states={r.name: round(r.duration_s, 3) for r in runs},
    )


# -- SSH: one channel beyond 512 MiB -------------------------------------------------------------
def _runner(host: LocalHost) -> SshRunner:
    port = host.ssh_port
    if port is None:
        raise RuntimeError("the local host has no sshd: the SSH measurements need one")
    return SshRunner(
        host_id=host.name,
        address="127.0.0.1",
        port=port,
        user=host.ssh_user,
        private_key=load_private_key(host.ssh_private_key),
        host_public_key=host.ssh_host_public_key,
        connect_timeout_s=10.0,
    )


@contextlib.contextmanager
def _prefer_cipher(cipher: str | None) -> Iterator[None]:
    """Put ``cipher`` first in paramiko's client preference for this process (None: paramiko's default)."""
    name = "_preferred_ciphers"  # a class attribute the type stubs do not declare
    original: tuple[str, ...] = getattr(paramiko.Transport, name)
    if cipher is not None:
        setattr(paramiko.Transport, name, (cipher, *(c for c in original if c != cipher)))
    try:
        yield
    finally:
        setattr(paramiko.Transport, name, original)


def ssh_channel_throughput(host: LocalHost, mib: int, cipher: str | None = None) -> dict[str, Any]:
    """``head -c {mib}M /dev/zero`` read over one channel of the product's SshRunner: bytes and MB/s."""
    with _prefer_cipher(cipher):
        return _ssh_channel_throughput(host, mib)


def _ssh_channel_throughput(host: LocalHost, mib: int) -> dict[str, Any]:
    runner = _runner(host)
    expected = mib * MIB
    try:
        channel = runner._session(60.0)  # the runner's own session, as the product opens it
        transport = channel.get_transport()
        started = time.perf_counter()
        channel.exec_command(f"head -c {mib}M /dev/zero")
        received = 0
        while chunk := channel.recv(1 << 18):
            received += len(chunk)
        elapsed = time.perf_counter() - started
        status = channel.recv_exit_status()
        cipher = str(getattr(transport, "remote_cipher", ""))
        channel.close()
    finally:
        runner.close()
    return {
        "expected_bytes": expected,
        "received_bytes": received,
        "bytes_ok": received == expected,
        "exit_status": status,
        "seconds": round(elapsed, 3),
        "mb_per_s": round(received / MIB / elapsed, 1),
        "cipher": cipher,
    }


def ssh_pump_to_s3(plane: LocalPlane, mib: int, part_size: int) -> dict[str, Any]:
    """The streaming path without pg_dump: {mib} MiB over one channel through ``pump`` into a multipart upload."""
    host = plane.host("demo")
    runner = _runner(host)
    store = S3BackupStore(plane.s3, plane.bucket)
    key = "bench/ssh-pump.bin"
    expected = mib * MIB
    zeros, digest = bytes(MIB), hashlib.sha256()
    for _ in range(mib):
        digest.update(zeros)
    with RssSampler() as sampler:
        time.sleep(0.2)
        baseline = rss_mb()
        reset_hwm()
        started = time.perf_counter()
        wall0 = time.time()
        upload = store.start_upload(key, content_type="application/octet-stream", metadata={})
        try:
            channel = runner._session(60.0)
            channel.exec_command(f"head -c {mib}M /dev/zero")
            stream = SshStream(channel, host.name, "head /dev/zero", 60.0)
            stats = pump(stream, upload, part_size)
            status = stream.finish().exit_code
            channel.close()
            pumped = time.perf_counter() - started
            peak_stream = hwm_mb()
            wall1 = time.time()
            upload.complete()
        except BaseException:
            upload.abort()
            raise
        finally:
            runner.close()
        total = time.perf_counter() - started
    stored, size = _object_sha256(plane, key)
    version = plane.s3.head_object(Bucket=plane.bucket, Key=key)["VersionId"]
    plane.s3.delete_object(Bucket=plane.bucket, Key=key, VersionId=version)
    return {
        "expected_bytes": expected,
        "received_bytes": stats.size,
        "bytes_ok": stats.size == expected == size,
        "sha256_ok": stats.sha256 == digest.hexdigest() == stored,
        "exit_status": status,
        "pump_seconds": round(pumped, 3),
        "with_complete_seconds": round(total, 3),
        "mb_per_s": round(stats.size / MIB / pumped, 1),
        "part_size_mb": part_size // MIB,
        "peak_rss_delta_mb": round(peak_stream - baseline, 1),
        "peak_rss_sampled_delta_mb": round(sampler.peak(wall0, wall1) - baseline, 1),
    }


def as_dict(obj: DumpRun | ManualRun | StreamRun) -> dict[str, Any]:
    return asdict(obj)


# -- the product's streaming memory, without moto ------------------------------------------------
class DiscardUpload:
    """A MultipartUpload that drops every part: the streaming's own memory, no S3 (nor moto) behind it."""

    def __init__(self, key: str = "bench/discard") -> None:
        self.key = key
        self.upload_id = "discard"
        self.parts = 0
        self.bytes = 0

    def upload_part(self, data: bytes) -> None:
        self.parts += 1
        self.bytes += len(data)

    def complete(self) -> int:
        return self.parts

    def abort(self) -> None:
        return None


def product_stream_memory(plane: LocalPlane, compression: StoredCompression, part_size: int) -> dict[str, Any]:
    """The real SSH dump stream (backup_dump.sh through the product's runner) pumped into a DiscardUpload.

    Peak RSS: ``VmHWM`` reset before the run, read after it, minus the RSS before it (moto plays no part,
    so this is what the BackupDump Lambda itself holds). Throughput: dump bytes / wall time (pg_dump-bound).
    """
    set_compression(plane, compression)
    target = plane.target("demo")
    if isinstance(target, SsmTarget):
        raise RuntimeError("the demo target is reached over SSM: this measures the stream through a runner")
    runner = runtime.runner_for(target)
    upload = DiscardUpload()
    gc.collect()
    malloc_trim()
    with RssSampler() as sampler:
        time.sleep(0.2)
        baseline = rss_mb()
        reset_hwm()
        wall0 = time.time()
        started = time.perf_counter()
        try:
            with runner.stream("backup_dump.sh", dump_env(target, compression), timeout_s=IDLE_TIMEOUT_S) as stream:
                stats = pump(stream, upload, part_size)
                result = stream.finish()
        finally:
            runner.close()
        seconds = time.perf_counter() - started
        peak = hwm_mb()
        wall1 = time.time()
    if result.exit_code != 0:
        raise RuntimeError(f"backup_dump.sh exited {result.exit_code}: {result.stderr[-500:]}")
    rows = parse_row_counts(result.stderr)
    return {
        "compression": compression,
        "size_mb": round(stats.size / MIB, 2),
        "parts": upload.parts,
        "seconds": round(seconds, 3),
        "mb_per_s": round(stats.size / MIB / seconds, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_delta_mb": round(peak - baseline, 1),
        "peak_rss_sampled_delta_mb": round(sampler.peak(wall0, wall1) - baseline, 1),
        "row_counts_ok": bool(rows),
    }
