"""backup.compression: what each writes and reads, the host library that compresses and decompresses the stream,
and the preflight refusing a compression the host cannot write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import get_args

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.backup.compression import METHODS, archive_codec, dump_env, read_env
from freshtrack_ops.backup.preflight import read_preflight
from freshtrack_ops.config import BackupSettings, Compression, LocalTarget, StoredCompression
from freshtrack_ops.errors import BackupCorrupt, ConfigError
from freshtrack_ops.host_scripts.parameters import check_values
from freshtrack_ops.ports import CommandResult

TARGET = LocalTarget(id="demo", domain="demo.freshtrack.local")
ARCHIVE_LIB = (Path(host_scripts.__file__).parent / "lib" / "archive.sh").read_text(encoding="utf-8")
BASH = shutil.which("bash") or "/bin/bash"
PAYLOAD = b"PGDMP" + os.urandom(200_000) + b"x" * 300_000


def _bash(script: str, *, codec: str, stdin: bytes, path: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {"ARCHIVE_CODEC": codec, "PATH": path or os.environ["PATH"]}
    return subprocess.run(
        [BASH, "-c", "set -euo pipefail\n" + ARCHIVE_LIB + "\n" + script],
        input=stdin,
        capture_output=True,
        env=env,
        check=False,
    )


def _compress(codec: str, data: bytes) -> bytes:
    return _bash("archive_encode", codec=codec, stdin=data).stdout


@pytest.mark.parametrize("compression", get_args(StoredCompression))
def test_every_compression_has_host_parameters_the_patterns_accept(compression: StoredCompression) -> None:
    env = dump_env(compression)
    check_values("backup_dump.sh", env)
    check_values("ssm_backup_upload.sh", env)
    check_values("archive_list.sh", read_env(compression, "b1"))
    assert read_env(compression, "b1") == {"ARCHIVE_CODEC": env["ARCHIVE_CODEC"]}


def test_stream_compressions_dump_uncompressed_and_compress_on_the_host() -> None:
    assert dump_env("zstd-stream") == {"PG_DUMP_COMPRESS": "0", "ARCHIVE_CODEC": "zstd"}
    assert dump_env("lz4-stream") == {"PG_DUMP_COMPRESS": "0", "ARCHIVE_CODEC": "lz4"}
    assert dump_env("gzip-default") == {"PG_DUMP_COMPRESS": "", "ARCHIVE_CODEC": ""}
    assert dump_env("zstd") == {"PG_DUMP_COMPRESS": "zstd", "ARCHIVE_CODEC": ""}


def test_a_manifest_with_an_unknown_compression_cannot_be_read() -> None:
    with pytest.raises(BackupCorrupt, match=r"compression: unknown \(got 'brotli'"):
        archive_codec("brotli", "b1")


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_the_host_codec_round_trips_and_the_reader_drains_the_stream(codec: str) -> None:
    packed = _compress(codec, PAYLOAD)
    assert 0 < len(packed) < len(PAYLOAD)
    whole = _bash("archive_read cat", codec=codec, stdin=packed)
    assert whole.returncode == 0 and whole.stdout == PAYLOAD
    # a reader that stops early (pg_restore --list after the TOC) still succeeds: the rest is drained
    head = _bash("archive_read head -c 5", codec=codec, stdin=packed)
    assert (head.returncode, head.stdout) == (0, b"PGDMP"), head.stderr


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_a_damaged_stream_fails_even_when_the_reader_stopped_early(codec: str) -> None:
    packed = bytearray(_compress(codec, PAYLOAD))
    packed[len(packed) // 2 :] = bytes(len(packed) - len(packed) // 2)  # the second half zeroed
    result = _bash("archive_read head -c 5", codec=codec, stdin=bytes(packed))
    assert result.returncode == 48
    assert b"does not decompress" in result.stderr


def test_without_a_codec_the_reader_gets_the_object_as_stored() -> None:
    result = _bash("archive_read cat", codec="", stdin=PAYLOAD)
    assert (result.returncode, result.stdout) == (0, PAYLOAD)


def test_a_host_without_the_codec_is_told_which_package(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cat", "head"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    result = _bash("archive_read cat", codec="zstd", stdin=b"x", path=str(bin_dir))
    assert result.returncode == 47
    assert b"apt-get install zstd" in result.stderr


def _preflight(codecs: str, pg_dump: str = "pg_dump (PostgreSQL) 15.18") -> CommandResult:
    stdout = "\n".join(
        [
            "database_ready=true",
            "server_version=15.18",
            "database_size_bytes=1000",
            f"pg_dump_version={pg_dump}",
            "app_version=v1.2.0",
            "free_disk_mb=10000",
            f"host_codecs={codecs}",
        ]
    )
    return CommandResult(exit_code=0, stdout=stdout, stderr="")


def _target(compression: Compression) -> LocalTarget:
    return TARGET.model_copy(update={"backup": BackupSettings(compression=compression)})


def test_preflight_refuses_a_stream_codec_the_host_lacks() -> None:
    with pytest.raises(ConfigError, match=r"backup.compression: zstd-stream needs zstd .*\(got host codecs: lz4\)"):
        read_preflight(_target("zstd-stream"), _preflight("lz4"))
    assert read_preflight(_target("zstd-stream"), _preflight("zstd,lz4")).free_disk_mb == 10000


def test_preflight_refuses_pg_dump_methods_older_pg_dumps_lack() -> None:
    with pytest.raises(ConfigError, match=r"needs pg_dump 16 or newer .*use zstd-stream"):
        read_preflight(_target("zstd"), _preflight("", pg_dump="pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"))
    assert read_preflight(_target("zstd"), _preflight("", pg_dump="pg_dump (PostgreSQL) 16.4")).compression == "zstd"
    assert (
        read_preflight(_target("gzip-1"), _preflight("", pg_dump="pg_dump (PostgreSQL) 12.1")).compression == "gzip-1"
    )


def test_auto_takes_zstd_where_the_host_has_it_and_gzip_where_not() -> None:
    assert read_preflight(_target("auto"), _preflight("zstd,lz4")).compression == "zstd-stream"
    assert read_preflight(_target("auto"), _preflight("lz4")).compression == "gzip-default"
    assert read_preflight(_target("auto"), _preflight("")).compression == "gzip-default"
    assert BackupSettings().compression == "auto"


def test_every_method_names_a_codec_the_host_library_knows() -> None:
    assert {m.codec for m in METHODS.values()} <= {"", "zstd", "lz4"}
