"""Load a backup into a database on the host: S3 → Lambda → SSH stdin → pg_restore, never a file."""

from __future__ import annotations

import time

from freshtrack_ops.backup.compression import read_env
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed
from freshtrack_ops.host_command import tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import BackupRef, LoadResult
from freshtrack_ops.ports import BackupStore, HostRunner
from freshtrack_ops.restore.stream import HashingChunks
from freshtrack_ops.restore.verify import check_digest, load_manifest

#: pg_restore prints nothing while it works; the idle timeout must cover the longest table.
RESTORE_TIMEOUT_S = 870.0


def load_backup(backup: BackupRef, database: str, target: Target, runner: HostRunner, store: BackupStore) -> LoadResult:
    manifest = load_manifest(backup, store)
    started = time.monotonic()
    chunks = HashingChunks(store.iter_chunks(backup.dump_key, HashingChunks.CHUNK))
    env = host_env(target) | {"TARGET_DB": database} | read_env(manifest.compression, manifest.backup_id)
    result = runner.run("restore_stream.sh", env, timeout_s=RESTORE_TIMEOUT_S, stdin=chunks)
    chunks.drain()
    # The object may have changed since it was verified: a mismatch fails the load (and reverts a restore).
    check_digest(chunks, manifest)
    if result.exit_code != 0:
        raise HostCommandFailed(
            f"{target.id}: pg_restore of {backup.backup_id} into {database} exited {result.exit_code}: "
            f"{tail(result.stderr)}"
        )
    return LoadResult(
        backup_id=backup.backup_id,
        database=database,
        size_bytes=chunks.size,
        duration_s=round(time.monotonic() - started, 3),
    )
