"""Validate a remediation request into the plan the state machine follows."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime

from freshtrack_ops.config import Target, TargetSet
from freshtrack_ops.errors import RemediationSuppressed
from freshtrack_ops.remediation.commands import check_service, planned_commands
from freshtrack_ops.remediation.guard import AuditEntry, AuditLog, RemediationGuard
from freshtrack_ops.remediation.models import RemediationPlan, RemediationRequest, Route, ValidateRemediationEvent
from freshtrack_ops.remediation.settings import HOST_ACTIONS
from freshtrack_ops.requests import parse_model

#: how often a remediation tries the host lock again while another workflow holds it
LOCK_POLL_S = 5
#: how often verification re-checks the alert's condition
VERIFY_POLL_S = 5
#: actions after which the application must answer on its health URL too
HEALTH_CHECKED_ACTIONS = frozenset({"compose-up", "restart-service", "restart-top-memory"})


def console_audit_id(execution_id: str) -> str:
    """The audit id of a remediation started by hand: derived from the execution, so a retried task reuses it."""
    return "console-" + hashlib.sha256(execution_id.encode()).hexdigest()[:32]


def _route(request: RemediationRequest, target: Target) -> Route:
    if request.action not in HOST_ACTIONS or not target.remediation.enabled:
        return "notify-only"
    if request.dry_run or target.remediation.dry_run:
        return "dry-run"
    return "act"


def _headline(request: RemediationRequest) -> str:
    alert = request.alert
    if alert is None:
        return f"{request.action} on {request.host}, started by hand"
    since = alert.starts_at.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{alert.alertname} on {request.host} ({alert.source}, firing since {since}): {request.action}"


def plan_remediation(
    event: ValidateRemediationEvent,
    targets: TargetSet,
    *,
    guard: RemediationGuard,
    audit: AuditLog,
    now: datetime,
    escalate: Callable[[str, str], None],
) -> RemediationPlan:
    """The plan, or InvalidInput naming the field, or RemediationSuppressed when the guard refuses a request
    started by hand (the webhook passes the guard itself before it starts an execution, and says so in audit_id)."""
    request = parse_model(RemediationRequest, event.request)
    target = targets.get(request.host)
    check_service(target, request.action, request.service)
    settings = target.remediation
    route = _route(request, target)
    audit_id = request.audit_id or console_audit_id(event.execution_id)
    if request.audit_id is None:
        if route == "act":
            admission = guard.admit(request.host, request.action, settings, now)
            if not admission.allowed:
                if admission.escalate:
                    escalate(
                        f"FreshTrack remediation suspended on {request.host}",
                        f"Remediation {request.action} on {request.host} is suspended: {admission.reason}. "
                        "Nothing more is done automatically until the window or cool-down passes; look at the host.",
                    )
                raise RemediationSuppressed(f"host {request.host}, action {request.action}: {admission.reason}")
        audit.record(
            AuditEntry(
                audit_id=audit_id, host=request.host, source="console", alertname=None, fingerprint=None,
                starts_at=None, status="started", action=request.action, execution_arn=event.execution_id,
                detail=f"{request.action} started by hand", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return RemediationPlan(
        host=request.host,
        action=request.action,
        service=request.service,
        route=route,
        audit_id=audit_id,
        alert=request.alert,
        commands=planned_commands(target, request.action, request.service) if route != "notify-only" else [],
        check_health=request.action in HEALTH_CHECKED_ACTIONS,
        lock_owner=event.execution_id,
        lock_lease_seconds=settings.lock_lease_seconds,
        lock_poll_s=LOCK_POLL_S,
        lock_tries=math.ceil(settings.lock_wait_s / LOCK_POLL_S),
        verify_poll_s=VERIFY_POLL_S,
        verify_tries=max(1, math.ceil(settings.verify_timeout_s / VERIFY_POLL_S)),
        headline=_headline(request),
    )
