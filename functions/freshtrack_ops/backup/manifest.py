"""The manifest: written last, so a dump without a manifest is by definition an incomplete backup."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.models import BackupOutput, Manifest, ManifestEvent
from freshtrack_ops.ports import BackupStore, Catalog, CatalogEntry


def build_manifest(event: ManifestEvent, target: Target) -> Manifest:
    plan, preflight, dump = event.plan, event.preflight, event.dump
    return Manifest(
        backup_id=plan.backup_id,
        host=plan.host,
        database=target.database,
        pg_server_version=preflight.server_version,
        pg_dump_version=preflight.pg_dump_version,
        app_version=preflight.app_version,
        compression=dump.compression,
        dump_key=dump.dump_key,
        size_bytes=dump.size_bytes,
        sha256=dump.sha256,
        started_at=plan.started_at,
        finished_at=dump.finished_at,
        row_counts=dump.row_counts,
        trigger=plan.trigger,
        reason=plan.reason,
        execution_id=plan.execution_id,
        database_size_bytes=preflight.database_size_bytes,
        dump_seconds=dump.duration_s,
    )


def catalog_entry(manifest: Manifest, manifest_key: str) -> CatalogEntry:
    return CatalogEntry(
        host=manifest.host,
        backup_id=manifest.backup_id,
        dump_key=manifest.dump_key,
        manifest_key=manifest_key,
        size_bytes=manifest.size_bytes,
        finished_at=manifest.finished_at.isoformat(),
        verification_status=manifest.verification.status,
        verified_at=manifest.verification.checked_at.isoformat() if manifest.verification.checked_at else None,
        dump_rate_mb_s=dump_rate_mb_s(manifest),
    )


def dump_rate_mb_s(manifest: Manifest) -> float | None:
    """MB of database pg_dump read per second in this backup (None when the manifest cannot say)."""
    if not manifest.database_size_bytes or not manifest.dump_seconds or manifest.dump_seconds <= 0:
        return None
    return round(manifest.database_size_bytes / 1_000_000 / manifest.dump_seconds, 3)


def measured_dump_rate(entries: list[CatalogEntry]) -> float | None:
    """The newest measured rate among a host's catalogued backups (newest first), if any."""
    return next((entry.dump_rate_mb_s for entry in entries if entry.dump_rate_mb_s), None)


def write_manifest(event: ManifestEvent, target: Target, store: BackupStore, catalog: Catalog) -> BackupOutput:
    manifest = build_manifest(event, target)
    body = manifest.model_dump_json(indent=2)
    store.put_json(event.plan.manifest_key, body)
    catalog.record_backup(catalog_entry(manifest, event.plan.manifest_key), manifest.model_dump_json())
    duration = (manifest.finished_at - manifest.started_at).total_seconds()
    return BackupOutput(
        backup_id=manifest.backup_id,
        host=manifest.host,
        dump_key=manifest.dump_key,
        manifest_key=event.plan.manifest_key,
        size_bytes=manifest.size_bytes,
        sha256=manifest.sha256,
        duration_s=round(duration, 3),
    )
