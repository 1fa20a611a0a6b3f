"""Find the backup a request names: an id, ``latest`` or ``latest-verified``."""

from __future__ import annotations

from freshtrack_ops.errors import BackupNotFound
from freshtrack_ops.models import BackupRef
from freshtrack_ops.ports import Catalog, CatalogEntry


def resolve_backup(host: str, selector: str, catalog: Catalog) -> CatalogEntry:
    entries = catalog.list_backups(host)
    if selector == "latest":
        if not entries:
            raise BackupNotFound(f"backup_id: host {host!r} has no backups yet")
        return entries[0]
    if selector == "latest-verified":
        for entry in entries:
            if entry.verification_status == "passed":
                return entry
        raise BackupNotFound(f"backup_id: host {host!r} has no backup whose test restore passed")
    for entry in entries:
        if entry.backup_id == selector:
            return entry
    raise BackupNotFound(f"backup_id: no backup {selector!r} of host {host!r} in the catalog")


def ref(entry: CatalogEntry) -> BackupRef:
    return BackupRef(
        host=entry.host, backup_id=entry.backup_id, dump_key=entry.dump_key, manifest_key=entry.manifest_key
    )
