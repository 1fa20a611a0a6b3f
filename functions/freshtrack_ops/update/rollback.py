"""Plan a rollback from the deployment history: which deployments it undoes, the commit it goes back to, the
commit that must run now, and whether the database is restored (and from which backup).

The history (``DEPLOY#`` items, newest first) holds every update and rollback with its outcome. A rollback
undoes **release** deployments that **succeeded** and that no earlier rollback undid already:

* ``to: previous`` undoes the newest of them and goes back to its ``from_commit``;
* ``to: vX.Y.Z`` undoes all of them back to the newest one that left ``vX.Y.Z`` (``from_version``), and goes
  back to that one's ``from_commit`` (the commit that ran, not whatever the tag names now).

Image updates change no code (their digests are pinned by their own rollback) and automatic rollbacks put back
what ran before them: neither is undone here. What must run now is the newest undone deployment's
``to_commit``; the preflight refuses anything else (``UnexpectedVersion``): a history that does not describe the
host cannot choose the database backup.

Database (``restore_database``): the backup to restore is the one taken before the OLDEST deployment undone
(the database as the target version left it). ``always`` restores it, ``never`` keeps the database, ``auto``
restores it only if one of the undone deployments changed the schema (migrations are forward-only: the code
rolled back may not work on the newer schema). Rows written since that backup are kept in the restore's
safety backup, which the notification names.
"""

from __future__ import annotations

from freshtrack_ops.config import TargetSet
from freshtrack_ops.errors import BackupNotFound, InvalidInput, NothingToRollBack
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.ports import Catalog, DeploymentHistory
from freshtrack_ops.requests import parse_request
from freshtrack_ops.restore.resolve import resolve_backup
from freshtrack_ops.update.models import DeploymentOutcome, RollbackPlan, RollbackRequest
from freshtrack_ops.update.plan import PlanChoices, new_plan


def plan_rollback(
    event: ValidateBackupEvent, targets: TargetSet, history: DeploymentHistory, catalog: Catalog
) -> RollbackPlan:
    request, target = parse_request(RollbackRequest, event.request, targets)
    if request.confirm != target.id:
        raise InvalidInput(f"confirm: must equal the host id {target.id!r} to roll it back (got {request.confirm!r})")
    undone = deployments_to_undo(target.id, history.deployments(target.id), request.to)
    newest, oldest = undone[0], undone[-1]
    restore_backup_id, decision = database_decision(request.restore_database, undone)
    if restore_backup_id:
        try:
            resolve_backup(target.id, restore_backup_id, catalog)
        except BackupNotFound as exc:
            raise BackupNotFound(
                f"restore_database: the backup {restore_backup_id} taken before update {oldest.update_id} is no "
                "longer in the catalog (retention?); roll back with restore_database never, then restore another "
                "backup with the restore workflow"
            ) from exc
    plan = new_plan(
        event,
        targets,
        target,
        PlanChoices(
            version=f"commit:{oldest.from_commit}",
            kind="rollback",
            subject=f"rollback to {oldest.from_version}"[:200],
            reason=request.reason,
            rollback_database=request.restore_database,
            allow_downgrade=True,
            trigger="pre-rollback",
            backup_reason=f"before the rollback to {oldest.from_version}"[:500],
            expected_commit=newest.to_commit,
        ),
    )
    return RollbackPlan(
        update=plan,
        to_version=oldest.from_version,
        to_commit=oldest.from_commit,
        from_version=newest.to_version,
        undoes=tuple(d.update_id for d in undone),
        restore_backup_id=restore_backup_id,
        database_decision=decision,
        summary="undoing " + ", ".join(f"{d.update_id} ({d.from_version} to {d.to_version})" for d in undone),
    )


def deployments_to_undo(host: str, deployments: list[DeploymentOutcome], to: str) -> list[DeploymentOutcome]:
    """The deployments a rollback ``to`` undoes, newest first (see the module docs); NothingToRollBack when
    there are none."""
    undone_before = {u for d in deployments if d.kind == "rollback" and d.outcome == "succeeded" for u in d.undoes}
    candidates = [
        d for d in deployments if d.kind == "release" and d.outcome == "succeeded" and d.update_id not in undone_before
    ]
    if not candidates:
        raise NothingToRollBack(
            f"to: host {host} has no succeeded release deployment left to undo in its deployment history "
            f"({len(deployments)} record(s)); go back with the update workflow (allow_downgrade) instead"
        )
    if to == "previous":
        return candidates[:1]
    for index, deployment in enumerate(candidates):
        if deployment.from_version == to:
            return candidates[: index + 1]
    left = ", ".join(dict.fromkeys(d.from_version for d in candidates))
    raise NothingToRollBack(
        f"to: no deployment in the history of host {host} left {to} (versions its deployments left: {left}); "
        "go back with the update workflow (allow_downgrade) instead"
    )


def database_decision(restore: str, undone: list[DeploymentOutcome]) -> tuple[str, str]:
    """(the backup to restore, "" to keep the database; why, in a sentence)."""
    oldest = undone[-1]
    changed = [d.update_id for d in undone if d.schema_changed]
    if restore == "never":
        return "", "The database was kept (restore_database never)" + (
            f", although {', '.join(changed)} changed its schema." if changed else "."
        )
    if restore == "always" or changed:
        why = "restore_database always" if restore == "always" else f"{', '.join(changed)} changed the schema"
        return oldest.backup_id, f"The database was restored from {oldest.backup_id} ({why})."
    return "", "The database was kept: no deployment undone changed its schema."
