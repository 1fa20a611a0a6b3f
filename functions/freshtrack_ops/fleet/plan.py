"""Validate a fleet update request and plan it: the hosts in order, the canary, the nested updates' names."""

from __future__ import annotations

import hashlib
import math
import re

from pydantic import ValidationError

from freshtrack_ops.config import TargetSet, describe_validation_error
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.fleet.models import (
    MAX_FLEET_HOSTS,
    MAX_SEQUENTIAL_UPDATES,
    ChildUpdate,
    FleetMember,
    FleetPlan,
    FleetUpdateRequest,
    ValidateFleetEvent,
)
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.update.plan import plan_update

_NAME_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]")
EXECUTION_NAME_MAX = 80


def plan_fleet(event: ValidateFleetEvent, targets: TargetSet) -> FleetPlan:
    try:
        request = FleetUpdateRequest.model_validate(event.request)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
    if request.kind == "images":
        # an image update names no version (the code stays) and each host has its own schedule for it
        # (update.image_update_schedule): a fleet rolls out one version, so it refuses rather than guess
        raise InvalidInput(
            "kind: a fleet rolls out releases only; run image updates per host (the update workflow with kind "
            "images, or update.image_update_schedule) (got 'images')"
        )
    hosts = _resolve_targets(request, targets)
    canary = request.canary or hosts[0]
    if canary not in hosts:
        raise InvalidInput(f"canary: must be one of the targets {', '.join(hosts)} (got {canary!r})")
    rest = [host for host in hosts if host != canary]
    update = ChildUpdate(
        version=request.version,
        kind=request.kind,
        reason=_child_reason(request.reason, event.execution_name),
        rollback_database=request.rollback_database,
        allow_downgrade=request.allow_downgrade,
    )
    for host in hosts:
        _check_child_input(event, host, update, targets)
    sequential = 1 + math.ceil(len(rest) / request.max_concurrency)
    if sequential > MAX_SEQUENTIAL_UPDATES:
        raise InvalidInput(
            f"max_concurrency: {len(rest)} hosts after the canary take {sequential - 1} waves at this concurrency; a "
            f"fleet runs at most {MAX_SEQUENTIAL_UPDATES} nested updates one after another (the canary included), "
            f"so raise it to at least {math.ceil(len(rest) / (MAX_SEQUENTIAL_UPDATES - 1))} or split the fleet "
            f"(got {request.max_concurrency})"
        )
    fleet = fleet_name(event.execution_name, event.execution_id)
    return FleetPlan(
        fleet=fleet,
        execution_id=event.execution_id,
        started_at=event.started_at,
        update=update,
        canary=FleetMember(host=canary, execution_name=child_name(fleet, canary, event.execution_id)),
        rest=tuple(FleetMember(host=h, execution_name=child_name(fleet, h, event.execution_id)) for h in rest),
        max_concurrency=request.max_concurrency,
        sequential_updates=sequential,
    )


def _resolve_targets(request: FleetUpdateRequest, targets: TargetSet) -> list[str]:
    known = [target.id for target in targets.targets]
    if request.targets == "all":
        hosts = known
    else:
        hosts = list(request.targets)
        unknown = [host for host in hosts if host not in known]
        if unknown:
            raise InvalidInput(
                f"targets: unknown target {', '.join(map(repr, unknown))} (known: {', '.join(known) or 'none'})"
            )
        repeated = sorted({host for host in hosts if hosts.count(host) > 1})
        if repeated:
            raise InvalidInput(f"targets: listed more than once: {', '.join(repeated)} (got {hosts})")
    if not hosts:
        raise InvalidInput(f"targets: at least one target is needed (got {request.targets!r})")
    if len(hosts) > MAX_FLEET_HOSTS:
        raise InvalidInput(f"targets: at most {MAX_FLEET_HOSTS} hosts per fleet (got {len(hosts)})")
    return hosts


def _check_child_input(event: ValidateFleetEvent, host: str, update: ChildUpdate, targets: TargetSet) -> None:
    """The nested input, planned by the update's own validator (its model, the kinds it refuses, the target's
    configuration): what the fleet would start is exactly what the update workflow accepts, so no bad input is
    found only once some hosts were updated."""
    request = update.model_dump() | {"host": host}
    try:
        plan_update(
            ValidateBackupEvent(request=request, execution_id=event.execution_id, started_at=event.started_at), targets
        )
    except InvalidInput as exc:
        raise InvalidInput(f"update of {host}: {exc}") from exc


def _child_reason(reason: str, execution_name: str) -> str:
    suffix = f"fleet {execution_name}"
    return (f"{reason} ({suffix})" if reason else f"update of {suffix}")[:500]


def fleet_name(execution_name: str, execution_id: str) -> str:
    """The fleet execution's name as it can begin other execution names (letters, digits, - and _)."""
    name = _NAME_OUTSIDE.sub("-", execution_name)[:EXECUTION_NAME_MAX]
    return name if name == execution_name else f"{name[: EXECUTION_NAME_MAX - 9]}-{_digest(execution_id)}"


def child_name(fleet: str, host: str, execution_id: str) -> str:
    """``<fleet>-<host>``, or, when that is longer than Step Functions allows (80), the fleet's name cut short and
    8 hex of the fleet execution's id before the host: unique per fleet execution and host, the same on a retry."""
    name = f"{fleet}-{host}"
    if len(name) <= EXECUTION_NAME_MAX:
        return name
    keep = EXECUTION_NAME_MAX - len(host) - 10
    return f"{fleet[:keep]}-{_digest(execution_id)}-{host}"


def _digest(execution_id: str) -> str:
    return hashlib.sha256(execution_id.encode()).hexdigest()[:8]
