"""Failure-path cleanup: leave no incomplete upload and no dump without a manifest."""

from __future__ import annotations

import json
import logging

from freshtrack_ops.models import BackupPlan, CleanupEvent, CleanupResult
from freshtrack_ops.ports import BackupStore
from freshtrack_ops.redact import redact

log = logging.getLogger(__name__)


_DEFAULT_CAUSES = {
    "States.Timeout": "the state did not finish (or was not answered) within its timeout",
    "States.HeartbeatTimeout": "the task stopped sending heartbeats",
    "States.TaskFailed": "the task failed without saying why",
}


#: A Fail state may not raise a ``States.*`` name, so the built-in errors are renamed.
_RENAMED = {"States.Timeout": "TimedOut", "States.HeartbeatTimeout": "TimedOut", "States.Runtime": "WorkflowError"}


def error_fields(error: dict[str, object]) -> tuple[str, str]:
    """(error name, cause) of a caught error, as the failure notification shows them. The cause is redacted:
    ours already are (errors.OpsError), but a cause may come from elsewhere (a Lambda runtime error, a
    service error) and the notification is an e-mail."""
    raw_name = str(error.get("Error", "UnknownError"))
    name = _RENAMED.get(raw_name, raw_name.removeprefix("States."))
    cause_raw = str(error.get("Cause", "") or "") or _DEFAULT_CAUSES.get(raw_name, "no cause reported")
    try:
        cause_json = json.loads(cause_raw)
    except ValueError:
        return name, redact(cause_raw)
    if isinstance(cause_json, dict) and "errorMessage" in cause_json:
        return str(cause_json.get("errorType", name)), redact(str(cause_json["errorMessage"]))
    return name, redact(cause_raw)


def delete_unmanifested_dump(plan: BackupPlan, store: BackupStore) -> bool:
    """Delete the plan's dump if it exists without a manifest (a backup is only ever kept with one)."""
    if store.exists(plan.dump_key) and not store.exists(plan.manifest_key):
        store.delete(plan.dump_key)
        return True
    return False


def cleanup_backup(event: CleanupEvent, store: BackupStore) -> CleanupResult:
    name, cause = error_fields(event.error)
    aborted = 0
    deleted: list[str] = []
    plan = event.plan
    if plan is not None:
        aborted = store.abort_incomplete_uploads(plan.dump_key)
        if delete_unmanifested_dump(plan, store):
            deleted.append(plan.dump_key)
    log.info("cleanup done", extra={"aborted_uploads": aborted, "deleted": deleted, "error": name})
    return CleanupResult(aborted_uploads=aborted, deleted_objects=deleted, error_name=name, error_cause=cause)
