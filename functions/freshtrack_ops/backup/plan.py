"""Validate a backup request and derive the backup's id and object keys."""

from __future__ import annotations

import hashlib

from freshtrack_ops.config import TargetSet
from freshtrack_ops.models import BackupPlan, BackupRequest, ValidateBackupEvent
from freshtrack_ops.requests import parse_request


def backup_keys(host: str, backup_id: str, started_at_path: str) -> tuple[str, str]:
    base = f"backups/{host}/{started_at_path}/{backup_id}"
    return f"{base}.dump", f"{base}.manifest.json"


def plan_backup(event: ValidateBackupEvent, targets: TargetSet) -> BackupPlan:
    request, target = parse_request(BackupRequest, event.request, targets)
    started = event.started_at
    suffix = hashlib.sha256(event.execution_id.encode()).hexdigest()[:8]
    backup_id = f"{target.id}-{started:%Y%m%dT%H%M%SZ}-{suffix}"
    dump_key, manifest_key = backup_keys(target.id, backup_id, f"{started:%Y/%m/%d}")
    return BackupPlan(
        backup_id=backup_id,
        host=target.id,
        trigger=request.trigger,
        reason=request.reason,
        execution_id=event.execution_id,
        started_at=started,
        dump_key=dump_key,
        manifest_key=manifest_key,
        lock_lease_seconds=target.backup.lock_lease_seconds,
    )
