"""Validate a maintenance request into the plan its state machine follows: every refusal happens here, before the
lock is taken or anything runs, and names its field ("field: message (got value)"). A refusal for a known target
is audited too; an accepted request opens its audit entry (source ``maintenance``)."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import VERIFY_INTERVAL_S, Target, TargetSet
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.maintenance import commands
from freshtrack_ops.maintenance.models import (
    REQUEST_MODELS,
    DbPoolRequest,
    MaintenancePlan,
    MaintenanceRequest,
    OsUpdateRequest,
    RotateSecretsRequest,
    ScaleRequest,
    ValidateMaintenanceEvent,
)
from freshtrack_ops.maintenance.scale import check_scale, instance_id_of
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.ports import InstanceControl
from freshtrack_ops.remediation.guard import AuditEntry, AuditLog, AuditStatus
from freshtrack_ops.requests import parse_model

#: the source of the audit entries of these workflows (the remediation's are alert sources, the service's "service")
AUDIT_SOURCE = "maintenance"
#: waiting for the host lock: every LOCK_POLL_S for LOCK_WAIT_S (a nightly backup may still run), then give way
LOCK_POLL_S = 15
LOCK_WAIT_S = 600
#: while the host is down after a reboot or an instance start, it is asked every PROBE_POLL_S
PROBE_POLL_S = 10


def maintenance_id(workflow: str, execution_id: str) -> str:
    """Derived from the execution, so a retried validator opens the same audit entry."""
    return f"{workflow}-" + hashlib.sha256(execution_id.encode()).hexdigest()[:32]


def _confirm_problem(request: RotateSecretsRequest, target: Target, why: str) -> list[str]:
    """The typed confirmation; a dry run changes nothing and needs none (a confirmation given must be right)."""
    confirm = request.confirm
    if confirm == target.id or (confirm is None and request.dry_run):
        return []
    shown = "missing" if confirm is None else repr(confirm)
    return [f"confirm: {why}: type the target id {target.id!r} (got {shown})"]


def _problems(request: MaintenanceRequest, target: Target, instances: InstanceControl | None) -> list[str]:
    """Everything wrong with the request for this target, one clause per field."""
    settings = target.maintenance
    if isinstance(request, DbPoolRequest):
        low, high = settings.db_pool_min, settings.db_pool_max
        if not low <= request.size <= high:
            return [
                f"size: DB_POOL_SIZE must be within {low}..{high} (maintenance.db_pool_min/max) (got {request.size})"
            ]
        return []
    if isinstance(request, RotateSecretsRequest):
        return _confirm_problem(request, target, "rotating the secrets restarts every service")
    if isinstance(request, ScaleRequest):
        return _scale_problems(request, target, instances)
    return []


def _scale_problems(request: ScaleRequest, target: Target, instances: InstanceControl | None) -> list[str]:
    """The instance as EC2 describes it now (type, state) against the request (scale.check_scale)."""
    if instances is None:
        raise ConfigError("scale: the validator has no EC2 access (runtime.instances)")
    try:
        check_scale(request, target, instances.describe(instance_id_of(target)))
    except InvalidInput as exc:
        return [str(exc)]
    return []


def _known_host(raw: dict[str, object], targets: TargetSet) -> str | None:
    host = raw.get("host")
    return host if isinstance(host, str) and any(t.id == host for t in targets.targets) else None


def _audit(audit: AuditLog, event: ValidateMaintenanceEvent, host: str, *, now: datetime, status: AuditStatus,
           detail: str) -> None:  # fmt: skip
    audit.record(
        AuditEntry(
            audit_id=maintenance_id(event.workflow, event.execution_id), host=host, source=AUDIT_SOURCE,
            alertname=None, fingerprint=None, starts_at=None, status=status, action=event.workflow,
            execution_arn=event.execution_id, detail=detail[:1000], created_at=now, updated_at=now,
        )
    )  # fmt: skip


def _headline(workflow: str, request: MaintenanceRequest) -> str:
    what = {
        "os-update": f"OS update of {request.host}",
        "rotate-secrets": f"secret rotation on {request.host}",
        "db-pool": f"DB_POOL_SIZE={getattr(request, 'size', '')} on {request.host}",
        "scale": f"resize of {request.host} to {getattr(request, 'instance_type', '')}",
    }[workflow]
    started = "by its schedule" if request.trigger == "schedule" else "by hand"
    text = f"{what}, {'dry run, ' if request.dry_run else ''}started {started}"
    return text + (f" ({request.reason})" if request.reason else "")


def _valid(
    event: ValidateMaintenanceEvent, targets: TargetSet, instances: InstanceControl | None
) -> tuple[MaintenanceRequest, Target, str | None]:
    """The request and its target, and the instance's type before a scale."""
    request = parse_model(REQUEST_MODELS[event.workflow], event.request)
    target = targets.get(request.host)
    problems = _problems(request, target, instances)
    if problems:
        raise InvalidInput("; ".join(problems))
    before = None
    if isinstance(request, ScaleRequest) and instances is not None:
        before = instances.describe(instance_id_of(target)).instance_type
    return request, target, before


def plan_maintenance(
    event: ValidateMaintenanceEvent,
    targets: TargetSet,
    *,
    audit: AuditLog,
    now: datetime,
    instances: InstanceControl | None = None,
) -> MaintenancePlan:
    """The plan, with its audit entry opened; or InvalidInput / ConfigError naming the field. ``instances``: EC2,
    for a scale (the instance's type and state are checked before anything runs)."""
    try:
        request, target, before_type = _valid(event, targets, instances)
    except InvalidInput as exc:
        host = _known_host(event.request, targets)
        if host is not None:
            _audit(audit, event, host, now=now, status="refused", detail=f"refused: {exc}")
        raise
    headline = _headline(event.workflow, request)
    settings = target.maintenance
    backup = plan_backup(
        ValidateBackupEvent(
            request={"host": target.id, "trigger": "pre-maintenance", "reason": f"before the {headline}"[:500]},
            execution_id=event.execution_id,
            started_at=datetime.fromisoformat(event.started_at),
        ),
        targets,
    )
    ident = maintenance_id(event.workflow, event.execution_id)
    plan = MaintenancePlan(
        workflow=event.workflow,
        maintenance_id=ident,
        host=target.id,
        dry_run=request.dry_run,
        trigger=request.trigger,
        commands=[],
        backup=backup,
        audit_id=ident,
        lock_owner=event.execution_id,
        lock_lease_seconds=target.update.lock_lease_seconds,
        lock_poll_s=LOCK_POLL_S,
        lock_tries=math.ceil(LOCK_WAIT_S / LOCK_POLL_S),
        verify_attempts=max(1, math.ceil(settings.verify_window_s / VERIFY_INTERVAL_S)),
        probe_poll_s=PROBE_POLL_S,
        probe_tries=max(1, math.ceil(settings.reboot_wait_s / PROBE_POLL_S)),
        headline=headline,
        **_specific(request, target, ident, before_type),
    )
    plan = plan.model_copy(update={"commands": commands.planned(plan, target)})
    _audit(audit, event, target.id, now=now, status="started", detail=headline)
    return plan


def _specific(request: MaintenanceRequest, target: Target, ident: str, before_type: str | None) -> dict[str, object]:
    """The plan fields of the request's own workflow."""
    if isinstance(request, OsUpdateRequest):
        return {"reboot": request.reboot, "run_id": ident.rsplit("-", 1)[-1]}
    if isinstance(request, DbPoolRequest):
        return {"pool_size": request.size, "pool_services": list(target.maintenance.db_pool_services)}
    if isinstance(request, RotateSecretsRequest):
        return {"capture_config": target.dr is not None}
    if isinstance(request, ScaleRequest):
        return {
            "instance_id": instance_id_of(target),
            "instance_type": request.instance_type,
            "previous_instance_type": before_type,
        }
    return {}
