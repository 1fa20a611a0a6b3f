"""Validate an update request and plan it: ids, the pre-update backup, the verification window."""

from __future__ import annotations

import hashlib
import math

from pydantic import ValidationError

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import TargetSet, describe_validation_error
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.update.models import UpdatePlan, UpdateRequest

#: how often an update asks scripts/verify-deployment.sh again while the deployment settles
VERIFY_INTERVAL_S = 10


def plan_update(event: ValidateBackupEvent, targets: TargetSet) -> UpdatePlan:
    try:
        request = UpdateRequest.model_validate(event.request)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
    if request.kind == "images":
        # Refused rather than accepted and ignored: the ASL has no image path yet.
        raise InvalidInput("kind: image updates are not available yet; use kind 'release' (got 'images')")
    try:
        target = targets.get(request.host)
    except ConfigError as exc:
        raise InvalidInput(str(exc)) from exc
    backup = plan_backup(
        ValidateBackupEvent(
            request={
                "host": target.id,
                "trigger": "pre-update",
                "reason": f"before the update to {request.version}"[:500],
            },
            execution_id=event.execution_id,
            started_at=event.started_at,
        ),
        targets,
    )
    suffix = hashlib.sha256(event.execution_id.encode()).hexdigest()[:8]
    return UpdatePlan(
        update_id=f"{target.id}-{event.started_at:%Y%m%dT%H%M%SZ}-{suffix}",
        host=target.id,
        version=request.version,
        branch=request.version.removeprefix("branch:") if request.version.startswith("branch:") else "",
        kind=request.kind,
        reason=request.reason,
        rollback_database=request.rollback_database,
        allow_downgrade=request.allow_downgrade,
        execution_id=event.execution_id,
        started_at=event.started_at,
        lock_lease_seconds=target.update.lock_lease_seconds,
        domain=target.domain,
        database=target.database,
        backup=backup,
        verify_attempts=max(1, math.ceil(target.update.verify_window_s / VERIFY_INTERVAL_S)),
    )
