"""Leftover incoming and scratch databases (restore/leftover.py): what a failed restore or test restore may hand over
to the drop-asides run (only the name derived from its own execution id, next to the target's live database), which
of the records the run drops (due), how a drop settles them, the report, and the DynamoDB adapter (moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog
from freshtrack_ops.config import TargetSet
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.explain import CaughtError
from freshtrack_ops.models import (
    AsideDropResult,
    AsideForgetEvent,
    AsideRecordEvent,
    AsideReportEvent,
    LeftoverKind,
    LeftoverRecordEvent,
)
from freshtrack_ops.restore import aside, leftover
from freshtrack_ops.restore.plan import scratch_database
from freshtrack_ops.restore.swap import swap_names
from tests.unit.test_restore_aside import DEMO, EXECUTION, NOW, TARGETS, MemoryAsides, dynamo, plan

__all__ = ["dynamo"]  # the fixture, imported for the adapter test

TEST_RESTORE = "arn:aws:states:us-east-1:123456789012:execution:test-restore:run-9"
DROP_FAILED = CaughtError(Error="HostCommandFailed", Cause='{"errorMessage": "psql: server closed the connection"}')


def event(kind: LeftoverKind = "incoming", execution_id: str = EXECUTION, **changes: Any) -> LeftoverRecordEvent:
    name = (
        swap_names("frostguard", execution_id).incoming
        if kind == "incoming"
        else scratch_database("frostguard", execution_id)
    )
    body = {
        "action": "leftover",
        "host": "demo",
        "live": "frostguard",
        "name": name,
        "kind": kind,
        "execution_id": execution_id,
        "error": DROP_FAILED,
    } | changes
    if kind == "scratch" and "live" not in changes:
        del body["live"]  # a test restore's plan does not name it: the target's database
    return LeftoverRecordEvent.model_validate(body)


def test_scratch_names_are_per_execution_so_one_name_has_one_owner() -> None:
    """Two test restores of the same backup no longer share (and drop) one scratch database."""
    first, second = scratch_database("frostguard", EXECUTION), scratch_database("frostguard", TEST_RESTORE)
    assert first != second and first.startswith("frostguard_verify_") and len(first) == len("frostguard_verify_") + 8
    assert scratch_database("frostguard", EXECUTION) == first  # every attempt of one execution
    assert len(scratch_database("x" * 63, EXECUTION)) == 63


@pytest.mark.parametrize("kind", ["incoming", "scratch"])
def test_an_execution_hands_over_its_own_database_and_the_run_lists_it(kind: LeftoverKind) -> None:
    store = MemoryAsides()
    execution = EXECUTION if kind == "incoming" else TEST_RESTORE
    recorded = leftover.record_leftover(event(kind, execution), TARGETS, store, NOW)
    assert recorded.record.error.startswith("HostCommandFailed: ")
    assert recorded.record.name in recorded.message and "drop-asides" in recorded.message
    due = aside.due_asides(TARGETS, store, NOW)  # at once: no keep window, the owner is done with it
    assert [(d.host, d.name, d.live, d.kind) for d in due] == [("demo", recorded.record.name, "frostguard", kind)]
    assert aside.due_asides(TARGETS, store, NOW, host="other") == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # the live database, an aside, another execution's database: never accepted as a leftover
        ({"name": "frostguard"}, r"^name: not the incoming database of this execution .*\(got 'frostguard'\)"),
        ({"name": swap_names("frostguard", EXECUTION).aside}, r"^name: .*\(got 'frostguard_aside_"),
        ({"name": swap_names("frostguard", TEST_RESTORE).incoming}, r"^name: .*\(got 'frostguard_incoming_"),
        (
            {"kind": "scratch", "name": swap_names("frostguard", EXECUTION).incoming},
            r"^name: not the scratch database of this execution",
        ),
        ({"live": "other_db"}, r"^live: not the database of target demo 'frostguard' \(got 'other_db'\)"),
    ],
)
def test_a_record_names_only_the_database_its_execution_owns(changes: dict[str, Any], message: str) -> None:
    store = MemoryAsides()
    with pytest.raises(InvalidInput, match=message):
        leftover.record_leftover(event(**changes), TARGETS, store, NOW)
    assert store.leftover_records == {}


def test_an_unknown_target_is_refused() -> None:
    with pytest.raises(ConfigError, match="nowhere"):
        leftover.record_leftover(event(host="nowhere"), TARGETS, MemoryAsides(), NOW)


def test_due_skips_records_a_sweep_failed_on_and_records_of_another_live_database() -> None:
    store = MemoryAsides()
    record = leftover.record_leftover(event(), TARGETS, store, NOW).record
    renamed = TargetSet(targets=(DEMO.model_copy(update={"database": "renamed"}),))
    assert leftover.due_leftovers(renamed, store, ["demo"]) == []  # its name is not derived from the live one now
    forged = record.model_copy(update={"name": "frostguard_incoming_00000000", "created_at": NOW + timedelta(1)})
    store.record_leftover(forged)  # a record whose name is not its execution's (written by hand): left alone
    assert [d.name for d in leftover.due_leftovers(TARGETS, store, ["demo"])] == [record.name]
    refused = CaughtError(Error="DatabaseStateRefused", Cause='{"errorMessage": "refusing: not ours"}')
    kept = aside.settle(
        AsideForgetEvent(action="forget", host="demo", name=record.name, kind="incoming", error=refused), store
    )
    assert kept.error is not None and kept.kind == "incoming"
    assert store.leftovers("demo")[0].note == kept.error  # kept for an operator
    assert leftover.due_leftovers(TARGETS, store, ["demo"]) == []


def test_asides_come_first_and_keep_their_window() -> None:
    store = MemoryAsides()
    kept_aside = aside.record_aside(AsideRecordEvent(action="record", plan=plan()), store, NOW)
    leftover.record_leftover(event(), TARGETS, store, NOW)
    assert [d.kind for d in aside.due_asides(TARGETS, store, NOW)] == ["incoming"]  # the aside is not due yet
    assert [d.kind for d in aside.due_asides(TARGETS, store, kept_aside.drop_after)] == ["aside", "incoming"]


def test_a_dropped_leftover_is_forgotten_and_the_report_names_it() -> None:
    store = MemoryAsides()
    record = leftover.record_leftover(event(), TARGETS, store, NOW).record
    done = aside.settle(AsideForgetEvent(action="forget", host="demo", name=record.name, kind="incoming"), store)
    assert done.error is None and store.leftovers("demo") == []
    report = aside.report(AsideReportEvent(action="report", results=[done]))
    assert (report.dropped, report.leftovers_dropped, report.kept, report.notify) == (1, 1, 0, True)
    assert f"demo/{record.name} (incoming)" in report.message
    assert report.subject == "FreshTrack drop-asides: leftover databases dropped"
    kept = AsideDropResult(host="demo", name="frostguard_verify_1a2b3c4d", kind="scratch", error="X: y")
    loud = aside.report(AsideReportEvent(action="report", results=[done, kept]))
    assert loud.subject == "FreshTrack drop-asides: a leftover database was KEPT" and loud.kept == 1
    aside_kept = AsideDropResult(host="demo", name="frostguard_aside_1a2b3c4d", error="X: y")
    aside_report = aside.report(AsideReportEvent(action="report", results=[aside_kept]))
    assert aside_report.subject.endswith("an aside database was KEPT")


def test_the_dynamodb_catalog_keeps_leftovers_beside_the_asides(dynamo: Any) -> None:
    store = DynamoAsideCatalog(dynamo, "ops")
    first = leftover.record_leftover(event(), TARGETS, store, NOW).record
    scratch = leftover.record_leftover(event("scratch", TEST_RESTORE), TARGETS, store, NOW + timedelta(1)).record
    aside.record_aside(AsideRecordEvent(action="record", plan=plan()), store, NOW)
    assert [r.name for r in store.leftovers("demo")] == [first.name, scratch.name]  # oldest first, asides apart
    assert len(store.asides("demo")) == 1
    store.mark_leftover("demo", first.name, "DatabaseStateRefused: not ours")
    assert store.leftovers("demo")[0].note == "DatabaseStateRefused: not ours"
    store.mark_leftover("demo", "frostguard_incoming_ffffffff", "nothing to mark")  # missing: no error
    store.forget_leftover("demo", first.name)
    store.forget_leftover("demo", first.name)  # twice: no error
    assert [r.name for r in store.leftovers("demo")] == [scratch.name]
