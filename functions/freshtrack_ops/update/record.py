"""The deployment history: every update's outcome, newest first (the rollback workflow's "previous")."""

from __future__ import annotations

import time

from freshtrack_ops.ports import DeploymentHistory
from freshtrack_ops.update.models import DeploymentOutcome, RecordDeploymentEvent, UpdateOutput


def record_deployment(
    event: RecordDeploymentEvent, history: DeploymentHistory, *, now: float | None = None
) -> UpdateOutput:
    plan, preflight = event.plan, event.preflight
    changed = (event.schema_after.schema_sha256, event.schema_after.migrations) != (
        event.schema_before.schema_sha256,
        event.schema_before.migrations,
    )
    duration = round((time.time() if now is None else now) - plan.started_at.timestamp(), 3)
    history.record_deployment(
        DeploymentOutcome(
            update_id=plan.update_id,
            host=plan.host,
            kind=plan.kind,
            undoes=event.undoes,
            from_version=preflight.current_version,
            from_commit=preflight.current_commit,
            to_version=preflight.target_version,
            to_commit=preflight.target_commit,
            backup_id=event.backup_id,
            schema_changed=changed,
            outcome=event.outcome,
            duration_s=duration,
        )
    )
    return UpdateOutput(
        update_id=plan.update_id,
        host=plan.host,
        from_version=preflight.current_version,
        to_version=preflight.target_version,
        backup_id=event.backup_id,
        schema_changed=changed,
        duration_s=duration,
    )
