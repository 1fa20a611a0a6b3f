"""Every compression this host can write, through every reader: pg_dump's own (``gzip-default``: the stored object
is the archive) and the host's (``zstd-stream``, ``lz4-stream``: a zstd/lz4 frame around it, decompressed on the host
by the test restore and the restore); the sha256 of the stored object is the manifest's and the data comes back
equal. Once per transport (``lz4``/``zstd``, pg_dump 16's own methods, are refused by this PostgreSQL 15: unit
tests cover the preflight's refusal). The disaster-recovery tests run with the default, ``auto``."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator

import pytest

from freshtrack_ops.config import BackupSettings, Compression
from opsctl.local.plane import LocalPlane

pytestmark = pytest.mark.integration

#: the first bytes of pg_dump's custom format, a zstd frame and an lz4 frame (RFC 8878 3.1.1; the LZ4 frame
#: format's magic number)
MAGIC: dict[str, bytes] = {
    "gzip-default": b"PGDMP",  # gzip-1 differs only in pg_dump's --compress (tests/unit/test_compression.py)
    "zstd-stream": b"\x28\xb5\x2f\xfd",
    "lz4-stream": b"\x04\x22\x4d\x18",
}
DECOMPRESS = {"zstd-stream": ["zstd", "-d", "-c"], "lz4-stream": ["lz4", "-d", "-c"]}
SAMPLE_CHECKSUM = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM temperature_readings t"


@pytest.fixture(params=sorted(MAGIC))
def compression(request: pytest.FixtureRequest, plane: LocalPlane, host_name: str) -> Iterator[Compression]:
    method: Compression = request.param
    plane.update_target(host_name, backup=BackupSettings(compression=method).model_dump())
    try:
        yield method
    finally:
        plane.update_target(host_name, backup=BackupSettings().model_dump())


def test_a_host_compressed_backup_is_verified_and_restored(
    plane: LocalPlane, host_name: str, compression: Compression
) -> None:
    host = plane.host(host_name)
    at_backup = host.table_counts(), host.sql(SAMPLE_CHECKSUM)[0][0]

    backup = plane.run("backup", {"host": host_name, "reason": f"{compression} test"})

    assert backup.status == "SUCCEEDED", (backup.error, backup.cause)
    assert backup.output is not None
    manifest = plane.manifest(backup.output["manifest_key"])
    assert manifest["compression"] == compression
    body = plane.s3.get_object(Bucket=plane.bucket, Key=backup.output["dump_key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == manifest["sha256"] and len(body) == manifest["size_bytes"]
    assert body.startswith(MAGIC[compression])
    if compression in DECOMPRESS:  # the manual's way of reading it: decompress, a custom-format archive inside
        inner = subprocess.run(DECOMPRESS[compression], input=body, capture_output=True, check=True).stdout
        assert inner.startswith(b"PGDMP") and len(inner) > len(body)

    check = plane.run("test-restore", {"host": host_name, "backup_id": backup.output["backup_id"]})
    assert check.status == "SUCCEEDED", (check.error, check.cause)
    assert plane.manifest(backup.output["manifest_key"])["verification"]["status"] == "passed"

    host.sql("DELETE FROM temperature_readings WHERE id %% 2 = 0")
    assert host.table_counts() != at_backup[0]
    restore = plane.run(
        "restore", {"host": host_name, "backup_id": backup.output["backup_id"], "confirm": "frostguard"}
    )
    assert restore.status == "SUCCEEDED", (restore.error, restore.cause)
    assert (host.table_counts(), host.sql(SAMPLE_CHECKSUM)[0][0]) == at_backup
    assert set(host.services().values()) == {"running"}
    assert plane.incomplete_uploads() == []
