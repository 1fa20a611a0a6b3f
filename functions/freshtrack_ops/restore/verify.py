"""Verify a stored backup before it is used: SHA-256 and size against the manifest, and an archive that
pg_restore can list — in one streamed pass from S3 through the host's ``pg_restore --list``."""

from __future__ import annotations

from freshtrack_ops.backup.compression import read_env
from freshtrack_ops.config import Target
from freshtrack_ops.errors import BackupCorrupt, HostCommandFailed
from freshtrack_ops.host_command import tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import BackupRef, Manifest, VerifyResult
from freshtrack_ops.ports import BackupStore, HostRunner
from freshtrack_ops.restore.stream import HashingChunks

LIST_TIMEOUT_S = 600.0
#: lib/archive.sh: the archive's codec (zstd, lz4) is not installed on the host - not the archive's fault
CODEC_MISSING = 47


def load_manifest(backup: BackupRef, store: BackupStore) -> Manifest:
    return Manifest.model_validate_json(store.get_text(backup.manifest_key))


def check_digest(chunks: HashingChunks, manifest: Manifest) -> None:
    check_digest_of(chunks.size, chunks.sha256, manifest)


def check_digest_of(size: int, sha256: str, manifest: Manifest) -> None:
    if size != manifest.size_bytes or sha256 != manifest.sha256:
        raise BackupCorrupt(
            f"{manifest.backup_id}: object is {size} bytes with sha256 {sha256}, "
            f"manifest says {manifest.size_bytes} bytes with sha256 {manifest.sha256}"
        )


def verify_archive(backup: BackupRef, target: Target, runner: HostRunner, store: BackupStore) -> VerifyResult:
    manifest = load_manifest(backup, store)
    chunks = HashingChunks(store.iter_chunks(backup.dump_key, HashingChunks.CHUNK))
    env = host_env(target) | read_env(manifest.compression, manifest.backup_id)
    result = runner.run("archive_list.sh", env, timeout_s=LIST_TIMEOUT_S, stdin=chunks)
    chunks.drain()  # pg_restore --list stops after the TOC; hash the rest too
    check_digest(chunks, manifest)
    raise_for_host_tools(manifest, target, result.exit_code, result.stderr)
    if result.exit_code != 0:
        raise BackupCorrupt(f"{manifest.backup_id}: pg_restore --list rejected the archive: {tail(result.stderr)}")
    entries = toc_entries(result.stdout)
    if entries == 0:
        raise BackupCorrupt(f"{manifest.backup_id}: the archive lists no entries")
    return VerifyResult(backup_id=manifest.backup_id, sha256=chunks.sha256, size_bytes=chunks.size, toc_entries=entries)


def raise_for_host_tools(manifest: Manifest, target: Target, exit_code: int, stderr: str) -> None:
    """A host that cannot decompress the archive is the host's problem, not a corrupt backup."""
    if exit_code == CODEC_MISSING:
        raise HostCommandFailed(f"{target.id}: cannot read {manifest.backup_id}: {tail(stderr)}")


def toc_entries(listing: str) -> int:
    return sum(1 for line in listing.splitlines() if line.strip() and not line.startswith(";"))
