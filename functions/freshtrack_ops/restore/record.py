"""Record a test restore's verdict in the manifest (S3, versioned) and the catalog."""

from __future__ import annotations

from datetime import UTC, datetime

from freshtrack_ops.backup.manifest import catalog_entry
from freshtrack_ops.models import Manifest, RecordVerificationEvent, Verification
from freshtrack_ops.ports import BackupStore, Catalog
from freshtrack_ops.restore.verify import load_manifest


def record_verification(
    event: RecordVerificationEvent, store: BackupStore, catalog: Catalog, now: datetime | None = None
) -> Manifest:
    manifest = load_manifest(event.backup, store)
    checked_at = now or datetime.now(UTC)
    verification = Verification(
        status="passed" if event.passed else "failed", checked_at=checked_at, detail=event.detail[:2000]
    )
    updated = manifest.model_copy(update={"verification": verification})
    body = updated.model_dump_json(indent=2)
    store.put_json(event.backup.manifest_key, body)
    entry = catalog_entry(manifest, event.backup.manifest_key)
    catalog.set_verification(entry, verification.status, checked_at.isoformat(), updated.model_dump_json())
    return updated
