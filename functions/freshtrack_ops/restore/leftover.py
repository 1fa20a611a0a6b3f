"""Leftover copies: a restore's half-loaded incoming database or a test restore's scratch database whose own drop
still failed after its state's retries (restore.asl.json DropIncoming / DropFailedIncoming, test_restore.asl.json
DropScratchAfterFailure). The execution hands the database over (``record``) and the drop-asides run drops it
(``due``): it was left on the host for good before (the undo log is read only after an abort).

WHY a handed-over record is proof that no running execution is loading the database, and the host lock is not:

* A database's name is derived from one execution's id (``<live>_incoming_<8 hex>``, swap.swap_names;
  ``<live>_verify_<8 hex>``, plan.scratch_database): no other execution creates, loads or drops that name (two
  ids share 8 hex digits with a chance of 2^-32 per pair). ``record`` refuses a name that is not the one derived
  from the recording execution's id and the target's live database, so a record can name nothing else: not the
  live database, not an aside (``_aside_``), not another execution's database.
* The record is written on the owner's failure path AFTER its last drop attempt, from where it never touches the
  database again (it starts the services, releases its lock, notifies and fails). So once the record exists, the
  only execution that could be using the database has given it up: no need to ask Step Functions whether the
  owner still runs, and no window in which it could be loading.
* The host lock cannot tell: a test restore takes no lock (it only reads the live database), and a restore run on
  behalf of an update holds its parent's lock; a free lock would not protect a running test restore's database.

The host checks again before it drops (database.sh): drop-incoming only a database marked incoming, drop-scratch
never the live database nor one carrying our aside or incoming marker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from freshtrack_ops.config import TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.explain import ExplainEvent, explain
from freshtrack_ops.models import (
    AsideDue,
    LeftoverKind,
    LeftoverRecord,
    LeftoverRecordEvent,
    LeftoverRecordResult,
)
from freshtrack_ops.restore.plan import scratch_database
from freshtrack_ops.restore.swap import swap_names

#: what the owner called each kind in its notification
_WHAT = {"incoming": "half-loaded incoming database", "scratch": "scratch database"}


class LeftoverCatalog(Protocol):
    def record_leftover(self, record: LeftoverRecord) -> None: ...

    def leftovers(self, host: str) -> list[LeftoverRecord]:
        """Oldest first."""
        ...

    def forget_leftover(self, host: str, name: str) -> None:
        """A missing record is not an error."""
        ...

    def mark_leftover(self, host: str, name: str, note: str) -> None:
        """Keep the record, with why the sweep's drop failed (left for an operator)."""
        ...


def owned_name(kind: LeftoverKind, live: str, execution_id: str) -> str:
    """The one database of ``kind`` the execution ``execution_id`` creates next to ``live``."""
    if kind == "incoming":
        return swap_names(live, execution_id).incoming
    return scratch_database(live, execution_id)


def record_leftover(
    event: LeftoverRecordEvent, targets: TargetSet, catalog: LeftoverCatalog, now: datetime
) -> LeftoverRecordResult:
    """Hand a database its execution could not drop over to the drop-asides run (checked first: see the module)."""
    target = targets.get(event.host)
    live = target.database if event.live is None else event.live
    if live != target.database:
        raise InvalidInput(f"live: not the database of target {target.id} {target.database!r} (got {live!r})")
    expected = owned_name(event.kind, live, event.execution_id)
    if event.name != expected:
        raise InvalidInput(f"name: not the {event.kind} database of this execution {expected!r} (got {event.name!r})")
    named = explain(ExplainEvent(workflow="drop-asides", outcome="failed", error=event.error))
    record = LeftoverRecord(
        host=event.host,
        name=event.name,
        live=live,
        kind=event.kind,
        execution_id=event.execution_id,
        created_at=now,
        error=f"{named.error_name}: {named.error_cause}",
    )
    catalog.record_leftover(record)
    message = (
        f"The {_WHAT[event.kind]} {event.name} could not be dropped ({named.error_name}); it is left on the host, "
        "recorded, and the next hourly drop-asides run drops it (nothing else uses it)."
    )
    return LeftoverRecordResult(record=record, message=message)


def due_leftovers(targets: TargetSet, catalog: LeftoverCatalog, hosts: list[str]) -> list[AsideDue]:
    """The leftovers of ``hosts`` to drop now: every record no earlier sweep failed on (those wait for an
    operator, as a kept aside does) whose name is still the one its execution owns next to the target's current
    live database (a record from before the target's database was renamed in the configuration is left alone)."""
    due: list[AsideDue] = []
    for host in hosts:
        live = targets.get(host).database
        for record in catalog.leftovers(host):
            if record.note is not None or record.live != live:
                continue
            if record.name != owned_name(record.kind, live, record.execution_id):
                continue
            due.append(AsideDue(host=record.host, name=record.name, live=record.live, kind=record.kind))
    return due
