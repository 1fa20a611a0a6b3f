"""The aside databases of restores by swap (docs/restore-swap.md): recorded in the catalog before the swap, kept
for ``restore.keep_aside_hours``, then dropped by the drop-asides workflow (``drop-aside``: only a database
database.sh marked as that live database's aside). A record is written before the swap-in, so an aside never
exists unrecorded; a record whose database is gone (the swap was undone, or never happened) is forgotten when
the drop finds nothing.

The same run drops the leftover incoming and scratch databases failed restores and test restores handed over
(restore/leftover.py): ``due`` lists them after the asides, ``settle`` and ``report`` take both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from freshtrack_ops.config import TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.explain import ExplainEvent, explain
from freshtrack_ops.models import (
    AsideDropResult,
    AsideDue,
    AsideForgetEvent,
    AsideRecord,
    AsideRecordEvent,
    AsideReportEvent,
    AsideReportResult,
)
from freshtrack_ops.restore.leftover import LeftoverCatalog, due_leftovers


class AsideCatalog(Protocol):
    def record_aside(self, record: AsideRecord) -> None: ...

    def asides(self, host: str) -> list[AsideRecord]:
        """Oldest first."""
        ...

    def forget_aside(self, host: str, name: str) -> None:
        """A missing record is not an error."""
        ...

    def mark_aside(self, host: str, name: str, note: str) -> None:
        """Keep the record, with why its drop failed (left for an operator)."""
        ...


def record_aside(event: AsideRecordEvent, catalog: AsideCatalog, now: datetime) -> AsideRecord:
    """The record of the aside a swap-in is about to create, written before it."""
    plan = event.plan
    if plan.aside in (plan.database, plan.incoming):
        raise InvalidInput(f"aside: must differ from the live and incoming databases (got {plan.aside!r})")
    record = AsideRecord(
        host=plan.host,
        name=plan.aside,
        live=plan.database,
        backup_id=plan.backup.backup_id,
        execution_id=plan.execution_id,
        created_at=now,
        drop_after=now + timedelta(hours=plan.keep_aside_hours),
    )
    catalog.record_aside(record)
    return record


class DropCatalog(AsideCatalog, LeftoverCatalog, Protocol):
    """The records the drop-asides run reads and settles: asides and leftovers."""


def due_asides(targets: TargetSet, catalog: DropCatalog, now: datetime, host: str | None = None) -> list[AsideDue]:
    """The asides whose time is up, of one target or of all, then the leftovers handed over (always due: their
    owners are done with them); a record of a target no longer configured is left alone (its host cannot be
    reached) and shows in the next list."""
    hosts = [host] if host is not None else [t.id for t in targets.targets]
    if host is not None and host not in {t.id for t in targets.targets}:
        raise InvalidInput(f"host: not a configured target (got {host!r})")
    due: list[AsideDue] = []
    for name in hosts:
        for record in catalog.asides(name):
            if record.drop_after <= now and record.note is None:
                due.append(AsideDue(host=record.host, name=record.name, live=record.live))
    return due + due_leftovers(targets, catalog, hosts)


def settle(event: AsideForgetEvent, catalog: DropCatalog) -> AsideDropResult:
    """After the drop: forget the record, or keep it marked with the drop's error (named and redacted)."""
    forget, mark = (
        (catalog.forget_aside, catalog.mark_aside)
        if event.kind == "aside"
        else (catalog.forget_leftover, catalog.mark_leftover)
    )
    if event.error is None:
        forget(event.host, event.name)
        return AsideDropResult(host=event.host, name=event.name, kind=event.kind)
    named = explain(ExplainEvent(workflow="drop-asides", outcome="failed", error=event.error))
    note = f"{named.error_name}: {named.error_cause}"
    mark(event.host, event.name, note)
    return AsideDropResult(host=event.host, name=event.name, kind=event.kind, error=note)


def report(event: AsideReportEvent) -> AsideReportResult:
    """One line per kind: the asides dropped, the leftovers dropped, and those kept with the error (a notification
    when one was kept, or a leftover was dropped: the failed run's notification said it would be)."""
    done = [r for r in event.results if r.error is None]
    dropped = [f"{r.host}/{r.name}" for r in done if r.kind == "aside"]
    swept = [f"{r.host}/{r.name} ({r.kind})" for r in done if r.kind != "aside"]
    kept = [f"{r.host}/{r.name}: {r.error}" for r in event.results if r.error is not None]
    lines = [f"Dropped {len(dropped)} aside database(s) whose time was up: {', '.join(dropped) or 'none'}."]
    if swept:
        lines.append(
            f"Dropped {len(swept)} leftover database(s) that failed restores or test restores could not drop: "
            + ", ".join(swept)
            + "."
        )
    if kept:
        lines.append(
            f"KEPT {len(kept)} (the drop failed; its catalog record says why, an operator decides): " + "; ".join(kept)
        )
    return AsideReportResult(
        dropped=len(done),
        kept=len(kept),
        leftovers_dropped=len(swept),
        notify=bool(kept or swept),
        subject=_subject(event.results),
        message=" ".join(lines),
    )


def _subject(results: list[AsideDropResult]) -> str:
    kept = {r.kind for r in results if r.error is not None}
    if "aside" in kept:
        return "FreshTrack drop-asides: an aside database was KEPT"
    if kept:
        return "FreshTrack drop-asides: a leftover database was KEPT"
    return "FreshTrack drop-asides: leftover databases dropped"


def utc_now() -> datetime:
    return datetime.now(UTC)
