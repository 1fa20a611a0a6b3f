"""Validate restore and test-restore requests and plan every name and key up front."""

from __future__ import annotations

from collections.abc import Callable

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.models import (
    BackupRef,
    RestorePlan,
    RestoreRequest,
    TestRestorePlan,
    TestRestoreRequest,
    ValidateBackupEvent,
    ValidateRestoreEvent,
)
from freshtrack_ops.ports import Catalog
from freshtrack_ops.requests import parse_request
from freshtrack_ops.restore.resolve import ref, resolve_backup
from freshtrack_ops.restore.swap import short_id, swap_names

MAX_IDENTIFIER = 63


def scratch_database(database: str, execution_id: str) -> str:
    """``<db>_verify_<8 hex of the execution id>``: never the live name, always a valid identifier (≤ 63 characters).

    WHY per execution (it was per backup id): one name has one owner, as the incoming databases of restores by swap
    (swap.short_id) have. Two test restores of the same backup (the schedule's and one by hand) used to share a name,
    so the second one's create-scratch (DROP ... WITH (FORCE), then CREATE) dropped the first one's database under
    its load, and a leftover of one could not be told from the database the other was loading: the drop-asides run
    drops a leftover scratch database because its owner handed it over (restore/leftover.py), which is proof only
    when no other execution can be using that name. The same for every attempt of one execution."""
    suffix = "_verify_" + short_id(execution_id)
    name = database[: MAX_IDENTIFIER - len(suffix)] + suffix
    if name == database:  # cannot happen with the suffix, but this is the one name we must never touch
        raise InvalidInput(f"scratch database {name!r} would be the live database")
    return name


def plan_test_restore(event: ValidateRestoreEvent, targets: TargetSet, catalog: Catalog) -> TestRestorePlan:
    request, target = parse_request(TestRestoreRequest, event.request, targets)
    entry = resolve_backup(target.id, request.backup_id, catalog)
    return TestRestorePlan(
        host=target.id,
        backup=ref(entry),
        scratch_db=scratch_database(target.database, event.execution_id),
        execution_id=event.execution_id,
    )


def plan_restore(
    event: ValidateRestoreEvent,
    targets: TargetSet,
    catalog: Catalog,
    lock_holder: Callable[[str], tuple[str, str] | None] | None = None,
) -> RestorePlan:
    """``lock_holder(host)``: who holds the host lock (needed to run a restore on behalf of an update)."""
    request, target = parse_request(RestoreRequest, event.request, targets)
    parent = request.on_behalf_of
    if parent is not None:
        holder = lock_holder(target.id) if lock_holder is not None else None
        if holder is None or holder[0] != parent:
            raise InvalidInput(
                f"on_behalf_of: {parent!r} does not hold the lock of host {target.id} (a restore runs on behalf of "
                "the update that holds it, as its rollback)"
            )
    if not target.restore.approval and request.confirm != target.database:
        shown = "missing" if request.confirm is None else repr(request.confirm)
        raise InvalidInput(f"confirm: must equal the database name {target.database!r} to replace it (got {shown})")
    if request.confirm is not None and request.confirm != target.database:
        raise InvalidInput(f"confirm: {request.confirm!r} is not the database name {target.database!r}")
    entry = resolve_backup(target.id, request.backup_id, catalog)
    names = swap_names(target.database, event.execution_id)
    safety = plan_backup(
        ValidateBackupEvent(
            request={
                "host": target.id,
                "trigger": "pre-restore",
                "reason": f"safety backup before restoring {entry.backup_id}",
            },
            execution_id=event.execution_id,
            started_at=event.started_at,
        ),
        targets,
    )
    return RestorePlan(
        host=target.id,
        backup=ref(entry),
        database=target.database,
        approval_required=target.restore.approval and parent is None,
        approval_timeout_s=target.restore.approval_timeout_s,
        reason=request.reason,
        execution_id=event.execution_id,
        lock_lease_seconds=target.restore.lock_lease_seconds,
        lock_owner=parent or event.execution_id,
        lock_held_by_parent=parent is not None,
        safety=safety,
        safety_backup=BackupRef(
            host=target.id, backup_id=safety.backup_id, dump_key=safety.dump_key, manifest_key=safety.manifest_key
        ),
        swap_enabled=target.restore.swap,
        incoming=names.incoming,
        aside=names.aside,
        load_while_running=(
            target.restore.load_while_running if request.load_while_running is None else request.load_while_running
        ),
        keep_aside_hours=target.restore.keep_aside_hours,
    )
