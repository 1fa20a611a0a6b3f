"""Reading a backup over SSM: the host streams a presigned GET of the object into ``pg_restore --list`` or
``pg_restore`` and reports the sha256 and size of the whole object, which are compared with the manifest
exactly as the SSH path compares what it streamed."""

from __future__ import annotations

import re

from freshtrack_ops.backup.compression import read_env
from freshtrack_ops.config import Target
from freshtrack_ops.errors import BackupCorrupt, HostCommandFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import LoadEvent, LoadResult, Manifest, VerifyResult
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.restore.verify import check_digest_of, raise_for_host_tools, toc_entries

#: the execution timeout of the read documents (ssm_document.EXECUTION_TIMEOUT_S)
READ_TIMEOUT_S = 3600.0
#: exit codes of lib/stream_object.sh that are not the archive's fault
_DOWNLOAD_FAILED = 45
_BAD_URL = 64
_DIGEST_LINE = re.compile(r"SHA256 ([0-9a-f]{64}) (0|[1-9][0-9]{0,15})")


def verify_command(target: Target, manifest: Manifest, object_url: str) -> HostCommand:
    env = host_env(target) | read_env(manifest.compression, manifest.backup_id) | {"OBJECT_URL": object_url}
    return HostCommand("ssm_archive_list.sh", env, READ_TIMEOUT_S)


def load_command(target: Target, manifest: Manifest, database: str, object_url: str) -> HostCommand:
    env = host_env(target) | read_env(manifest.compression, manifest.backup_id)
    env |= {"TARGET_DB": database, "OBJECT_URL": object_url}
    return HostCommand("ssm_restore_stream.sh", env, READ_TIMEOUT_S)


def reported_digest(stdout: str) -> tuple[int, str] | None:
    """(size, sha256) from the last ``SHA256 <hex> <bytes>`` line, or None."""
    for line in reversed(stdout.splitlines()):
        match = _DIGEST_LINE.fullmatch(line.strip())
        if match:
            return int(match.group(2)), match.group(1)
    return None


def read_verify(manifest: Manifest, target: Target, result: CommandResult) -> VerifyResult:
    _raise_for_transfer(manifest, target, result, "pg_restore --list")
    raise_for_host_tools(manifest, target, result.exit_code, result.stderr)
    if result.exit_code != 0:
        raise BackupCorrupt(f"{manifest.backup_id}: pg_restore --list rejected the archive: {tail(result.stderr)}")
    size, sha256 = _digest(manifest, result)
    check_digest_of(size, sha256, manifest)
    listing = "\n".join(line for line in result.stdout.splitlines() if not _DIGEST_LINE.fullmatch(line.strip()))
    entries = toc_entries(listing)
    if entries == 0:
        raise BackupCorrupt(f"{manifest.backup_id}: the archive lists no entries")
    return VerifyResult(backup_id=manifest.backup_id, sha256=sha256, size_bytes=size, toc_entries=entries)


def read_load(
    load: LoadEvent, manifest: Manifest, target: Target, result: CommandResult, *, duration_s: float
) -> LoadResult:
    backup, database = load.backup, load.database
    _raise_for_transfer(manifest, target, result, f"pg_restore into {database}")
    if result.exit_code != 0:
        raise HostCommandFailed(
            f"{target.id}: pg_restore of {backup.backup_id} into {database} exited {result.exit_code}: "
            f"{tail(result.stderr)}"
        )
    size, sha256 = _digest(manifest, result)
    # The object may have changed since it was verified: a mismatch fails the load (and reverts a restore).
    check_digest_of(size, sha256, manifest)
    return LoadResult(backup_id=backup.backup_id, database=database, size_bytes=size, duration_s=duration_s)


def _raise_for_transfer(manifest: Manifest, target: Target, result: CommandResult, what: str) -> None:
    if result.exit_code in (_DOWNLOAD_FAILED, _BAD_URL):
        raise HostCommandFailed(
            f"{target.id}: {what} of {manifest.backup_id}: the host could not read the object: {tail(result.stderr)}"
        )


def _digest(manifest: Manifest, result: CommandResult) -> tuple[int, str]:
    digest = reported_digest(result.stdout)
    if digest is None:
        raise HostCommandFailed(f"{manifest.backup_id}: the host reported no sha256 of the object")
    return digest
