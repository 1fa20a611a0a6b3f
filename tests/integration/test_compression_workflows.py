"""Backups compressed on the host (``zstd-stream``, ``lz4-stream``) through every reader: the stored object is a
zstd/lz4 frame whose sha256 the manifest records, the test restore and the restore decompress it on the host, and
the data comes back equal. Once per transport."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator

import pytest

from freshtrack_ops.config import BackupSettings, Compression
from opsctl.local.plane import LocalPlane

pytestmark = pytest.mark.integration

#: the first bytes of a zstd frame and of an lz4 frame (RFC 8878 3.1.1; the LZ4 frame format's magic number)
MAGIC: dict[str, bytes] = {"zstd-stream": b"\x28\xb5\x2f\xfd", "lz4-stream": b"\x04\x22\x4d\x18"}
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
    # the manual's way of reading it: decompress, and pg_restore finds a custom-format archive inside
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
