"""Failure-path cleanup: leave no incomplete upload and no dump without a manifest."""

from __future__ import annotations

import logging

from freshtrack_ops.models import BackupPlan, CleanupEvent, CleanupResult
from freshtrack_ops.ports import BackupStore

log = logging.getLogger(__name__)


def delete_unmanifested_dump(plan: BackupPlan, store: BackupStore) -> bool:
    """Delete the plan's dump if it exists without a manifest (a backup is only ever kept with one)."""
    if store.exists(plan.dump_key) and not store.exists(plan.manifest_key):
        store.delete(plan.dump_key)
        return True
    return False


def cleanup_backup(event: CleanupEvent, store: BackupStore) -> CleanupResult:
    """Abort the plan's incomplete uploads and delete its dump if it has no manifest (never one that has)."""
    plan = event.plan
    aborted = store.abort_incomplete_uploads(plan.dump_key)
    deleted = [plan.dump_key] if delete_unmanifested_dump(plan, store) else []
    log.info("cleanup done", extra={"aborted_uploads": aborted, "deleted": deleted})
    return CleanupResult(aborted_uploads=aborted, deleted_objects=deleted)
