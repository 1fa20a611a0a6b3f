from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from freshtrack_ops.backup.stream import stream_dump
from freshtrack_ops.config import BackupSettings, LocalTarget
from freshtrack_ops.errors import DumpFailed, HostConnectionLost, UploadFailed
from freshtrack_ops.models import BackupPlan, DumpEvent, PreflightReport
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.backup import _stored
from tests.unit.fakes import FakeRunner, FakeStore, sha256

TARGET = LocalTarget(id="demo", domain="demo.example.com")
PLAN = BackupPlan(
    backup_id="demo-20261128T020000Z-0123abcd",
    host="demo",
    trigger="schedule",
    reason="",
    execution_id="arn:x",
    started_at=datetime(2026, 11, 28, 2, tzinfo=UTC),
    dump_key="backups/demo/2026/11/28/demo-20261128T020000Z-0123abcd.dump",
    manifest_key="backups/demo/2026/11/28/demo-20261128T020000Z-0123abcd.manifest.json",
    lock_lease_seconds=3600,
)
COUNTS = {"public.users": 5, "public.temperature_readings": 20000}
OK = CommandResult(0, "", "notice: something\nROWCOUNTS " + json.dumps(COUNTS) + "\n")
PART = 5 * 1024 * 1024


def _dump_bytes(size: int) -> list[bytes]:
    data = b"PGDMP" + bytes(range(256)) * (size // 256)
    return [data[i : i + 65536] for i in range(0, len(data), 65536)]


def test_stream_uploads_parts_hashes_and_reports_counts() -> None:
    chunks = _dump_bytes(12 * 1024 * 1024)
    store = FakeStore()
    result = stream_dump(
        PLAN,
        TARGET,
        FakeRunner(stream_chunks=chunks, stream_result=OK),
        store,
        part_size=PART,
        compression="gzip-default",
    )
    upload = store.uploads[0]
    assert upload.completed and not upload.aborted
    assert b"".join(upload.parts) == b"".join(chunks)
    assert all(len(p) >= PART for p in upload.parts[:-1])
    assert result.sha256 == sha256(b"".join(chunks))
    assert result.size_bytes == len(b"".join(chunks))
    assert result.parts == len(upload.parts) == 3
    assert result.row_counts == COUNTS


def test_the_chosen_compression_reaches_the_script_as_environment() -> None:
    runner = FakeRunner(stream_chunks=_dump_bytes(1000), stream_result=OK)
    stream_dump(PLAN, TARGET, runner, FakeStore(), part_size=PART, compression="gzip-1")
    script, env = runner.calls[0]
    assert script == "backup_dump.sh"
    assert env["PG_DUMP_COMPRESS"] == "1"
    assert env["DB_NAME"] == "frostguard"


def test_the_dump_writes_what_the_preflight_chose_and_falls_back_in_one_place() -> None:
    """The preflight resolves ``auto`` for the host (its codecs); the dump step takes that. A report without it
    (an execution older than the choice) falls back to the target's setting without the host's codecs: ``auto``
    is then gzip-default, which every pg_dump writes."""
    report = PreflightReport(
        server_version="15", pg_dump_version="15", app_version="v1", free_disk_mb=1, database_size_bytes=1
    )
    auto = TARGET.model_copy(update={"backup": BackupSettings(compression="auto")})
    chosen = DumpEvent(plan=PLAN, preflight=report.model_copy(update={"compression": "zstd-stream"}))
    assert _stored(chosen, auto) == "zstd-stream"
    assert _stored(DumpEvent(plan=PLAN, preflight=report), auto) == "gzip-default"
    assert _stored(
        DumpEvent(plan=PLAN), TARGET.model_copy(update={"backup": BackupSettings(compression="gzip-1")})
    ) == ("gzip-1")


@pytest.mark.parametrize(
    ("runner", "store", "error"),
    [
        (
            FakeRunner(stream_chunks=_dump_bytes(PART * 3), stream_result=OK, fail_after=40),
            FakeStore(),
            HostConnectionLost,
        ),
        (
            FakeRunner(stream_chunks=_dump_bytes(1000), stream_result=CommandResult(1, "", "pg_dump: error")),
            FakeStore(),
            DumpFailed,
        ),
        (FakeRunner(stream_chunks=[b"NOTADUMP" * 100], stream_result=OK), FakeStore(), DumpFailed),
        (
            FakeRunner(stream_chunks=_dump_bytes(1000), stream_result=CommandResult(0, "", "no counts")),
            FakeStore(),
            DumpFailed,
        ),
        (FakeRunner(stream_chunks=_dump_bytes(PART * 3), stream_result=OK), FakeStore(fail_on_part=2), UploadFailed),
    ],
    ids=["connection-lost", "pg_dump-failed", "not-a-dump", "no-row-counts", "part-upload-failed"],
)
def test_every_failure_aborts_the_upload(runner: FakeRunner, store: FakeStore, error: type[Exception]) -> None:
    with pytest.raises(error):
        stream_dump(PLAN, TARGET, runner, store, part_size=PART, compression="gzip-default")
    assert store.uploads[0].aborted
    assert not store.uploads[0].completed
