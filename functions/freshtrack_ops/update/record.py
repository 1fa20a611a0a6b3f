"""The deployment history: every update's outcome, newest first (the rollback workflow's "previous")."""

from __future__ import annotations

import time

from freshtrack_ops.ports import DeploymentHistory
from freshtrack_ops.update.models import DeploymentOutcome, RecordDeploymentEvent, UpdateOutput


def deployment_outcome(
    event: RecordDeploymentEvent, *, now: float | None = None
) -> tuple[DeploymentOutcome, UpdateOutput]:
    """The history item of a finished update or rollback, and the task's output."""
    plan, preflight = event.plan, event.preflight
    changed = (event.schema_after.schema_sha256, event.schema_after.migrations) != (
        event.schema_before.schema_sha256,
        event.schema_before.migrations,
    )
    duration = round((time.time() if now is None else now) - plan.started_at.timestamp(), 3)
    outcome = DeploymentOutcome(
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
    output = UpdateOutput(
        update_id=plan.update_id,
        host=plan.host,
        from_version=preflight.current_version,
        to_version=preflight.target_version,
        backup_id=event.backup_id,
        schema_changed=changed,
        duration_s=duration,
    )
    return outcome, output


def record_deployment(
    event: RecordDeploymentEvent, history: DeploymentHistory, *, now: float | None = None
) -> UpdateOutput:
    outcome, output = deployment_outcome(event, now=now)
    history.record_deployment(outcome)
    return output


def not_recorded(outcome: DeploymentOutcome, output: UpdateOutput, error: Exception) -> UpdateOutput:
    """``output`` of an ``outcome`` whose history write failed: said, never the workflow's outcome (the host changed,
    or was put back, whatever the history says). A rollback's missing record matters most: "previous" would offer
    the deployments it undid again."""
    why = f"{type(error).__name__}: {str(error)[:200]}"
    consequence = (
        "the rollback workflow would offer the deployments it undid again"
        if outcome.kind == "rollback"
        else "the rollback workflow will not offer it as the previous deployment"
    )
    return output.model_copy(
        update={
            "recorded": False,
            "history_note": f"NOT recorded in the deployment history ({why}): {consequence}; see docs/runbooks.md.",
        }
    )
