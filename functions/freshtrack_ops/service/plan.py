"""Validate a service request into the plan the state machine follows: every refusal happens here, before the
lock is taken or anything runs on the host, and names its field ("field: message (got value)")."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from datetime import datetime
from typing import get_args

from freshtrack_ops.config import Target, TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.remediation.guard import AuditEntry, AuditLog, AuditStatus
from freshtrack_ops.requests import parse_model
from freshtrack_ops.service.commands import planned_commands
from freshtrack_ops.service.models import (
    DEFAULT_LOG_TAIL,
    DESTRUCTIVE_ACTIONS,
    ServiceAction,
    ServicePlan,
    ServiceRequest,
    ValidateServiceEvent,
)

#: how often the workflow tries the host lock again while another workflow holds it, and for how long
LOCK_POLL_S = 5
LOCK_WAIT_S = 30
#: the Act task's Lambda runs 900 s at most (tasks.py): the lease outlives it with room for the record states
LOCK_LEASE_S = 1200
#: the source the audit entries of this workflow carry (the remediation's are "console" or an alert source)
AUDIT_SOURCE = "service"
#: actions that act on every service and take no service name (the manual's Emergency Procedures)
ALL_SERVICES_ACTIONS = frozenset({"emergency-stop", "emergency-restart", "force-rebuild"})
_EXECUTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


def service_audit_id(execution_id: str) -> str:
    """Derived from the execution, so a retried task completes the same entry."""
    return "service-" + hashlib.sha256(execution_id.encode()).hexdigest()[:32]


def execution_name(execution_id: str) -> str:
    """The execution's name (the last field of its ARN), as an S3 key part."""
    return _EXECUTION_NAME.sub("-", execution_id.rsplit(":", 1)[-1])[:80] or "execution"


def canonical_ip(value: str) -> str:
    """One IPv4 or IPv6 address in ``ipaddress``'s canonical form (what fail2ban lists), or InvalidInput.

    Private, loopback and link-local addresses are accepted on purpose: fail2ban bans them like any other (the
    manual's own example is 192.168.1.100); a network (``/24``), a zone (``%eth0``), an IPv4-mapped form or an
    octet with a leading zero (ambiguous: octal to some tools) is not a single address here."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInput(f"ip: not a single IPv4 or IPv6 address (got {value!r})") from None


def docker_since(since: str) -> str:
    """``--since`` as docker takes it: Go durations have no day unit (``1d`` -> ``24h``)."""
    if since.endswith("d"):
        return f"{int(since[:-1]) * 24}h"
    return since


def _field_problems(request: ServiceRequest, target: Target) -> list[str]:
    """Everything wrong with the request for this target but the confirmation, one clause per field."""
    action, service = request.action, request.service
    problems: list[str] = []
    if service is not None and service not in target.compose_services:
        known = ", ".join(target.compose_services)
        problems.append(f"service: not a service of target {target.id!r} ({known}) (got {service!r})")
    elif service is not None and action in ALL_SERVICES_ACTIONS | {"unban"}:
        what = "fail2ban, not a compose service" if action == "unban" else "every service"
        problems.append(f"service: {action} acts on {what} (got {service!r})")
    for name, value in (("tail", request.tail), ("since", request.since)):
        if value is not None and action != "logs":
            problems.append(f"{name}: only logs takes {name} (got {value!r})")
    if action == "unban" and request.ip is None:
        problems.append("ip: unban needs the address to unban (got None)")
    elif request.ip is not None and action != "unban":
        problems.append(f"ip: only unban takes an address (got {request.ip!r})")
    elif request.ip is not None:
        try:
            canonical_ip(request.ip)
        except InvalidInput as exc:
            problems.append(str(exc))
    return problems


def _confirmation_problem(request: ServiceRequest, target: Target) -> str | None:
    """Destructive actions need the target's id typed as ``confirm``; a confirmation given must be right."""
    if request.action in DESTRUCTIVE_ACTIONS and request.confirm != target.id:
        shown = "missing" if request.confirm is None else repr(request.confirm)
        return f"confirm: {request.action} takes services down: type the target id {target.id!r} (got {shown})"
    if request.confirm is not None and request.confirm != target.id:
        return f"confirm: not the target id {target.id!r} (got {request.confirm!r})"
    return None


def check_request(request: ServiceRequest, target: Target) -> None:
    """InvalidInput naming every field that does not fit the action and target (the confirmation last)."""
    problems = _field_problems(request, target)
    confirmation = _confirmation_problem(request, target)
    if confirmation:
        problems.append(confirmation)
    if problems:
        raise InvalidInput("; ".join(problems))


def _headline(request: ServiceRequest, jail: str | None, ip: str | None) -> str:
    if request.action == "unban":
        text = f"unban {ip} in fail2ban jail {jail} on {request.host}"
    else:
        text = f"{request.action} {request.service or 'all services'} on {request.host}"
    return f"{text}, started by hand" + (f" ({request.reason})" if request.reason else "")


def _audit(
    audit: AuditLog, host: str, action: str | None, audit_id: str, execution_id: str, *, now: datetime,
    status: AuditStatus, detail: str,
) -> None:  # fmt: skip
    audit.record(
        AuditEntry(
            audit_id=audit_id, host=host, source=AUDIT_SOURCE, alertname=None, fingerprint=None, starts_at=None,
            status=status, action=action, execution_arn=execution_id, detail=detail[:1000], created_at=now,
            updated_at=now,
        )
    )  # fmt: skip


def _known_host(raw: dict[str, object], targets: TargetSet) -> str | None:
    """The request's host when it is one of the targets (a refusal is audited under it), else None."""
    host = raw.get("host")
    return host if isinstance(host, str) and any(t.id == host for t in targets.targets) else None


def _valid_request(raw: dict[str, object], targets: TargetSet) -> tuple[ServiceRequest, Target]:
    request = parse_model(ServiceRequest, raw)
    target = targets.get(request.host)
    check_request(request, target)
    return request, target


def plan_service(event: ValidateServiceEvent, targets: TargetSet, *, audit: AuditLog, now: datetime) -> ServicePlan:
    """The plan, with its audit entry started; or InvalidInput / ConfigError naming the field. A refusal for a
    known target is audited too (who asked for what is worth keeping, above all a destructive action refused)."""
    audit_id = service_audit_id(event.execution_id)
    try:
        request, target = _valid_request(event.request, targets)
    except InvalidInput as exc:
        host = _known_host(event.request, targets)
        if host is not None:
            raw_action = event.request.get("action")
            action = raw_action if isinstance(raw_action, str) and raw_action in get_args(ServiceAction) else None
            _audit(
                audit, host, action, audit_id, event.execution_id, now=now, status="refused", detail=f"refused: {exc}"
            )
        raise
    logs = request.action == "logs"
    tail = request.tail if logs else None
    if logs and tail is None and request.since is None:
        tail = DEFAULT_LOG_TAIL
    since = docker_since(request.since) if request.since else None
    ip = canonical_ip(request.ip) if request.ip else None
    jail = target.daily_check.fail2ban_jail if request.action == "unban" else None
    headline = _headline(request, jail, ip)
    _audit(
        audit, request.host, request.action, audit_id, event.execution_id, now=now, status="started", detail=headline
    )
    return ServicePlan(
        host=request.host,
        action=request.action,
        service=request.service,
        tail=tail,
        since=since,
        ip=ip,
        jail=jail,
        destructive=request.action in DESTRUCTIVE_ACTIONS,
        commands=planned_commands(request.action, request.service, tail=tail, since=since, ip=ip, jail=jail),
        log_key=f"reports/{request.host}/logs/{execution_name(event.execution_id)}.log" if logs else None,
        audit_id=audit_id,
        lock_owner=event.execution_id,
        lock_lease_seconds=LOCK_LEASE_S,
        lock_poll_s=LOCK_POLL_S,
        lock_tries=math.ceil(LOCK_WAIT_S / LOCK_POLL_S),
        headline=headline,
    )
