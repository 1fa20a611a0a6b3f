"""Failure-path cleanup: leave no incomplete upload and no dump without a manifest."""

from __future__ import annotations

import json
import logging

from freshtrack_ops.models import CleanupEvent, CleanupResult
from freshtrack_ops.ports import BackupStore

log = logging.getLogger(__name__)


def error_fields(error: dict[str, object]) -> tuple[str, str]:
    name = str(error.get("Error", "UnknownError"))
    cause_raw = str(error.get("Cause", ""))
    try:
        cause_json = json.loads(cause_raw)
    except ValueError:
        return name, cause_raw
    if isinstance(cause_json, dict) and "errorMessage" in cause_json:
        return str(cause_json.get("errorType", name)), str(cause_json["errorMessage"])
    return name, cause_raw


def cleanup_backup(event: CleanupEvent, store: BackupStore) -> CleanupResult:
    name, cause = error_fields(event.error)
    aborted = 0
    deleted: list[str] = []
    plan = event.plan
    if plan is not None:
        aborted = store.abort_incomplete_uploads(plan.dump_key)
        if store.exists(plan.dump_key) and not store.exists(plan.manifest_key):
            store.delete(plan.dump_key)
            deleted.append(plan.dump_key)
    log.info("cleanup done", extra={"aborted_uploads": aborted, "deleted": deleted, "error": name})
    return CleanupResult(aborted_uploads=aborted, deleted_objects=deleted, error_name=name, error_cause=cause)
