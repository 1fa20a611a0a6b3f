"""Preflight: reachable host, ready database, enough disk, and the versions the manifest records."""

from __future__ import annotations

import re

from freshtrack_ops.backup.compression import METHODS, resolve
from freshtrack_ops.config import StoredCompression, Target
from freshtrack_ops.errors import ConfigError, DatabaseNotReady, HostCommandFailed, InsufficientDisk
from freshtrack_ops.host_command import HostCommand, parse_key_values, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import PreflightReport
from freshtrack_ops.ports import CommandResult, HostRunner

PREFLIGHT_TIMEOUT_S = 120.0


def preflight_command(target: Target) -> HostCommand:
    return HostCommand("preflight.sh", host_env(target), PREFLIGHT_TIMEOUT_S)


def run_preflight(target: Target, runner: HostRunner) -> PreflightReport:
    return read_preflight(target, preflight_command(target).run(runner))


def read_preflight(target: Target, result: CommandResult) -> PreflightReport:
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: preflight exited {result.exit_code}: {tail(result.stderr)}")
    values = parse_key_values(result.stdout)
    if values.get("database_ready") != "true":
        raise DatabaseNotReady(f"{target.id}: database {target.database!r} does not accept connections")
    try:
        report = PreflightReport(
            server_version=values["server_version"],
            pg_dump_version=values["pg_dump_version"],
            app_version=values["app_version"],
            free_disk_mb=int(values["free_disk_mb"]),
            database_size_bytes=int(values["database_size_bytes"]),
        )
    except (KeyError, ValueError) as exc:
        raise HostCommandFailed(f"{target.id}: preflight output incomplete ({exc}): {tail(result.stdout)}") from exc
    codecs = [codec for codec in values.get("host_codecs", "").split(",") if codec]
    pgdata_free = values.get("pgdata_free_mb", "")
    stored = check_compression(target, resolve(target.backup.compression, codecs), report.pg_dump_version, codecs)
    report = report.model_copy(
        update={"compression": stored, "pgdata_free_mb": int(pgdata_free) if pgdata_free.isdigit() else None}
    )
    if report.free_disk_mb < target.backup.min_free_disk_mb:
        raise InsufficientDisk(
            f"{target.id}: {report.free_disk_mb} MB free under {target.app_dir}, "
            f"need at least {target.backup.min_free_disk_mb} MB"
        )
    return report


def check_compression(
    target: Target, compression: StoredCompression, pg_dump_version: str, host_codecs: list[str]
) -> StoredCompression:
    """Refuse before the dump a compression this host cannot write (pg_dump too old, the codec missing); the
    compression when it can."""
    method = METHODS[compression]
    if method.codec and method.codec not in host_codecs:
        raise ConfigError(
            f"backup.compression: {compression} needs {method.codec} on {target.id} "
            f"(apt-get install {method.codec}, or choose another compression) "
            f"(got host codecs: {','.join(host_codecs) or 'none'})"
        )
    major = _major(pg_dump_version)
    if method.min_pg_dump_major and major is not None and major < method.min_pg_dump_major:
        raise ConfigError(
            f"backup.compression: {compression} needs pg_dump {method.min_pg_dump_major} or newer on {target.id}; "
            f"use {method.codec or compression}-stream or gzip (got {pg_dump_version})"
        )
    return compression


def _major(version: str) -> int | None:
    match = re.search(r"\b(\d+)(?:\.\d+)?", version)
    return int(match.group(1)) if match else None
