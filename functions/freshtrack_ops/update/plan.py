"""Validate an update request and plan it: ids, the pre-update backup, the verification window."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import VERIFY_INTERVAL_S, Target, TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.fields import Trigger
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.requests import parse_request
from freshtrack_ops.update.models import DeploymentKind, RollbackDatabase, UpdatePlan, UpdateRequest

#: what update_preflight.sh resolves for an image update: the code that is checked out
CURRENT = "current"


def plan_update(event: ValidateBackupEvent, targets: TargetSet) -> UpdatePlan:
    request, target = parse_request(UpdateRequest, event.request, targets)
    if request.kind == "release" and request.version is None:
        raise InvalidInput("version: required for kind 'release' (vX.Y.Z, latest or branch:<name>) (got none)")
    if request.kind == "images" and request.version is not None:
        raise InvalidInput(
            f"version: an image update keeps the running code; leave version out (got {request.version!r})"
        )
    version = request.version or CURRENT
    subject = "image update (docker compose pull)" if request.kind == "images" else f"update to {version}"
    return new_plan(
        event,
        targets,
        target,
        PlanChoices(
            version=version,
            kind=request.kind,
            subject=subject,
            reason=request.reason,
            rollback_database=request.rollback_database,
            allow_downgrade=request.allow_downgrade,
            trigger="pre-update",
            backup_reason=f"before the {subject}"[:500],
        ),
    )


@dataclass(frozen=True, kw_only=True)
class PlanChoices:
    """What differs between an update's plan and a rollback's (the rollback plans itself as an update)."""

    version: str
    kind: DeploymentKind
    subject: str
    reason: str
    rollback_database: RollbackDatabase
    allow_downgrade: bool
    trigger: Trigger
    backup_reason: str
    expected_commit: str | None = None


def new_plan(event: ValidateBackupEvent, targets: TargetSet, target: Target, choices: PlanChoices) -> UpdatePlan:
    backup = plan_backup(
        ValidateBackupEvent(
            request={"host": target.id, "trigger": choices.trigger, "reason": choices.backup_reason},
            execution_id=event.execution_id,
            started_at=event.started_at,
        ),
        targets,
    )
    version = choices.version
    return UpdatePlan(
        update_id=update_id(target.id, event.started_at, event.execution_id),
        host=target.id,
        version=version,
        branch=version.removeprefix("branch:") if version.startswith("branch:") else "",
        kind=choices.kind,
        subject=choices.subject,
        pull_images=choices.kind == "images",
        expected_commit=choices.expected_commit,
        reason=choices.reason,
        rollback_database=choices.rollback_database,
        allow_downgrade=choices.allow_downgrade,
        execution_id=event.execution_id,
        started_at=event.started_at,
        lock_lease_seconds=target.update.lock_lease_seconds,
        domain=target.domain,
        database=target.database,
        backup=backup,
        verify_attempts=max(1, math.ceil(target.update.verify_window_s / VERIFY_INTERVAL_S)),
    )


def update_id(host: str, started_at: datetime, execution_id: str) -> str:
    """``<host>-<UTC start>-<8 hex of the execution id>`` (the backup ids' shape)."""
    suffix = hashlib.sha256(execution_id.encode()).hexdigest()[:8]
    return f"{host}-{started_at:%Y%m%dT%H%M%SZ}-{suffix}"
