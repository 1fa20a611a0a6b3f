"""Validate a disaster-recovery request and decide everything before a server is provisioned.

Refused here (nothing provisioned, nothing changed): a target without a ``dr`` section, a replacement that is the
primary or not one of its standbys, a recovery without the right confirmation, a drill given one, and a backup that
has not passed a test restore (``NoVerifiedBackup``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from freshtrack_ops.config import (
    VERIFY_INTERVAL_S,
    DrSettings,
    SshStandby,
    SshTarget,
    SsmStandby,
    SsmTarget,
    Target,
    TargetSet,
)
from freshtrack_ops.dr.models import (
    DR_EXECUTION_TAG,
    DR_HOST_TAG,
    DR_ID_TAG,
    DR_MODE_TAG,
    DisasterRecoveryPlan,
    DisasterRecoveryRequest,
    DnsChange,
    ProvisionSpec,
    StandbySpec,
    ValidateDisasterRecoveryEvent,
)
from freshtrack_ops.errors import BackupNotFound, InvalidInput, NoVerifiedBackup, ReplacementIsPrimary
from freshtrack_ops.ports import Catalog, CatalogEntry
from freshtrack_ops.requests import parse_request
from freshtrack_ops.restore.resolve import ref, resolve_backup

#: EC2 tag values are at most 256 characters (Tag, EC2 API reference)
MAX_TAG_VALUE = 256


def _check_confirmation(request: DisasterRecoveryRequest, target: Target, dr: DrSettings) -> None:
    if request.mode == "drill":
        # mode defaults to drill: a confirmation given with it is an operator who meant to recover and forgot the
        # mode; running a drill instead would leave them believing the domain moved
        if request.confirm is not None:
            raise InvalidInput(
                f"confirm: a drill changes no DNS and takes no confirmation; set mode to recover to move "
                f"{target.domain} (got {request.confirm!r})"
            )
        return
    if not dr.approval and request.confirm != target.domain:
        shown = "missing" if request.confirm is None else repr(request.confirm)
        raise InvalidInput(
            f"confirm: must equal the domain {target.domain!r} to move it onto another server (got {shown})"
        )
    if request.confirm is not None and request.confirm != target.domain:
        raise InvalidInput(f"confirm: {request.confirm!r} is not the domain {target.domain!r}")


def resolve_verified_backup(host: str, selector: str, catalog: Catalog) -> CatalogEntry:
    """The backup a recovery restores: ``latest-verified`` or an id, and in both cases one whose test restore
    passed (a recovery is the one restore with nothing to fall back on)."""
    try:
        entry = resolve_backup(host, selector, catalog)
    except BackupNotFound as exc:
        if selector == "latest-verified":
            raise NoVerifiedBackup(str(exc)) from exc
        raise
    if entry.verification_status != "passed":
        raise NoVerifiedBackup(
            f"backup_id: backup {entry.backup_id!r} of host {host!r} has not passed a test restore "
            f"(verification: {entry.verification_status}); run test-restore on it, or choose latest-verified"
        )
    return entry


def _replacement(
    request: DisasterRecoveryRequest, target: Target, dr: DrSettings, event: ValidateDisasterRecoveryEvent, dr_id: str
) -> ProvisionSpec | StandbySpec:
    if request.replacement == target.id:
        raise InvalidInput(f"replacement: {target.id!r} is the primary itself (a recovery replaces it)")
    if request.replacement != "provision":
        for standby in dr.standbys:
            if standby.id == request.replacement:
                ensure_not_primary(target, **_standby_server(standby))
                return StandbySpec(standby_id=standby.id, transport=standby.transport)
        known = ", ".join(s.id for s in dr.standbys) or "none"
        raise InvalidInput(
            f"replacement: {request.replacement!r} is not a standby of host {target.id!r} (its standbys: {known})"
        )
    if dr.launch_template_spec is None:
        raise InvalidInput(f"replacement: host {target.id!r} has no dr.launch_template to provision a server from")
    if len(event.execution_id) > MAX_TAG_VALUE:
        raise InvalidInput(f"execution_id: longer than an EC2 tag value ({MAX_TAG_VALUE} characters)")
    transport = dr.effective_transport(target)
    ssh = transport == "ssh"
    return ProvisionSpec(
        launch_template=dr.launch_template_spec,
        instance_role_arn=dr.instance_role_arn,
        transport=transport,
        ssh_user=(dr.ssh_user or (target.user if isinstance(target, SshTarget) else "root")) if ssh else None,
        ssh_port=dr.ssh_port if ssh else None,
        private_key_secret_arn=(
            dr.private_key_secret_arn or (target.private_key_secret_arn if isinstance(target, SshTarget) else None)
        )
        if ssh
        else None,
        host_key_type=dr.host_key_type if ssh else None,
        connect_via=dr.connect_via,
        tags={
            DR_ID_TAG: dr_id,
            DR_HOST_TAG: target.id,
            DR_MODE_TAG: request.mode,
            DR_EXECUTION_TAG: event.execution_id,
        },
        running_timeout_s=dr.running_timeout_s,
        reachable_timeout_s=dr.reachable_timeout_s,
    )


def _standby_server(standby: SshStandby | SsmStandby) -> dict[str, str | None]:
    if isinstance(standby, SshStandby):
        return {"address": standby.address, "instance_id": None}
    return {"address": None, "instance_id": standby.instance_id}


def ensure_not_primary(primary: Target, *, instance_id: str | None = None, address: str | None = None) -> None:
    """Refuse a replacement server that is the primary: the same instance id, or the same address (checked again
    on a provisioned instance, whose id and address are known only once it runs)."""
    if instance_id is not None and isinstance(primary, SsmTarget) and instance_id == primary.instance_id:
        raise ReplacementIsPrimary(f"replacement: instance {instance_id} is the primary {primary.id}'s own instance")
    if address is not None and isinstance(primary, SshTarget) and address.lower() == primary.address.lower():
        raise ReplacementIsPrimary(f"replacement: address {address} is the primary {primary.id}'s own address")


def disaster_recovery_id(host: str, event: ValidateDisasterRecoveryEvent) -> str:
    """``dr-<host>-<UTC start>-<8 hex of the execution>``: one per execution, readable in tags and the catalog."""
    stamp = event.started_at.strftime("%Y%m%dT%H%M%SZ")
    return f"dr-{host}-{stamp}-{hashlib.sha256(event.execution_id.encode()).hexdigest()[:8]}"


def replacement_id(event: ValidateDisasterRecoveryEvent) -> str:
    """``dr-<8 hex of the execution>``: the id a provisioned server has until it is promoted or terminated."""
    return f"dr-{hashlib.sha256(event.execution_id.encode()).hexdigest()[:8]}"


def plan_disaster_recovery(
    event: ValidateDisasterRecoveryEvent,
    targets: TargetSet,
    catalog: Catalog,
    app_version_of: Callable[[CatalogEntry], str],
) -> DisasterRecoveryPlan:
    """``app_version_of``: the app version a backup's manifest records (read once the backup is chosen)."""
    request, target = parse_request(DisasterRecoveryRequest, event.request, targets)
    dr = target.dr
    if dr is None:
        raise InvalidInput(f"host: target {target.id!r} has no dr section in the deployment configuration")
    _check_confirmation(request, target, dr)
    dr_id = disaster_recovery_id(target.id, event)
    replacement = _replacement(request, target, dr, event, dr_id)
    entry = resolve_verified_backup(target.id, request.backup_id, catalog)
    dns = None
    if request.mode == "recover":
        dns = DnsChange(
            hosted_zone_id=dr.hosted_zone_id,
            record_name=dr.effective_record_name(target),
            record_type=dr.record_type,
            ttl=dr.record_ttl,
            insync_timeout_s=dr.dns_insync_timeout_s,
        )
    taken = {t.id for t in (*targets.targets, *targets.replacements)}
    new_id = replacement.standby_id if isinstance(replacement, StandbySpec) else replacement_id(event)
    if isinstance(replacement, ProvisionSpec) and new_id in taken:
        raise InvalidInput(f"replacement: id {new_id!r} is in use by another server (run the recovery again)")
    return DisasterRecoveryPlan(
        dr_id=dr_id,
        host=target.id,
        replacement_id=new_id,
        mode=request.mode,
        domain=target.domain,
        database=target.database,
        backup=ref(entry),
        revision=app_version_of(entry),
        backup_finished_at=entry.finished_at,
        replacement=replacement,
        dns=dns,
        app_config_secret_name=dr.app_config_secret_name,
        approval_required=request.mode == "recover" and dr.approval,
        approval_timeout_s=target.restore.approval_timeout_s,
        reason=request.reason,
        execution_id=event.execution_id,
        started_at=event.started_at,
        lock_lease_seconds=dr.lock_lease_seconds,
        poll_s=dr.poll_interval_s,
        verify_attempts=max(1, math.ceil(target.update.verify_window_s / VERIFY_INTERVAL_S)),
    )
