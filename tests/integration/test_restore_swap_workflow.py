"""The restore by swap end to end (docs/restore-swap.md), over SSH and over SSM: the backup loaded into a new
database next to the live one, the names swapped in one transaction, the old database kept aside (catalogued)
until the drop-asides workflow drops it; failures before the swap leave everything as it was, failures after it
rename back; too little room on the data directory takes the old path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog
from freshtrack_ops.models import AsideRecord
from freshtrack_ops.restore.swap import swap_names
from opsctl.local.plane import Execution, LocalPlane
from tests.integration.conftest import hold, sshd_plane, verified_backup

pytestmark = pytest.mark.integration
LIVE = "frostguard"
CHECKSUM = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM organizations t"
ASIDE_MARK = f"freshtrack-ops:aside:{LIVE}"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane() as local_plane:
        yield local_plane


@pytest.fixture(scope="module")
def backup(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    """A verified backup of the host, taken before the tests change the live database; ``state``: the live
    database's snapshot when it was taken (what a restore of it brings back)."""
    return verified_backup(plane, host_name) | {"state": snapshot(plane, host_name)}


def snapshot(plane: LocalPlane, host_name: str, db: str = LIVE) -> tuple[dict[str, int], str]:
    host = plane.host(host_name)
    return host.table_counts(db), str(host.sql(CHECKSUM, db=db)[0][0])


def databases(plane: LocalPlane, host_name: str) -> dict[str, str | None]:
    """Every database but the templates, with its comment (the swap's ownership markers)."""
    rows = plane.host(host_name).sql(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE NOT datistemplate"
    )
    return {str(name): comment for name, comment in rows}


def change_live(plane: LocalPlane, host_name: str, label: str) -> tuple[dict[str, int], str]:
    """Write after the backup (what a restore replaces); the live state after it."""
    plane.host(host_name).sql(
        "INSERT INTO organizations (name, slug, created_at) VALUES (%s, %s, now())", (label, label.replace(" ", "-"))
    )
    return snapshot(plane, host_name)


def restore(plane: LocalPlane, host_name: str, backup: dict[str, Any], **extra: Any) -> Execution:
    request = {"host": host_name, "backup_id": backup["backup_id"], "confirm": LIVE, "reason": "test"}
    return plane.run("restore", request | extra)


def notifications_since(plane: LocalPlane, count: int) -> list[dict[str, Any]]:
    return plane.notifications()[count:]


def make_due(plane: LocalPlane, record: AsideRecord) -> None:
    """The record's time is up (what an hour of the schedule's clock does)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    DynamoAsideCatalog(plane.dynamodb, plane.table).record_aside(record.model_copy(update={"drop_after": past}))


def test_restore_by_swap_keeps_the_old_database_aside_until_drop_asides_drops_it(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    backup_state = backup["state"]
    changed = change_live(plane, host_name, "written after the backup")
    assert changed != backup_state
    dumps_before = {k for k in plane.object_keys() if k.endswith(".dump")}
    seen = len(plane.notifications())
    started = datetime.now(UTC)

    ex = restore(plane, host_name, backup)

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None and ex.output["path"] == "swap"
    names = ex.state_names()
    assert "SwapIn" in names and "SafetyDump" not in names and "RecreateDatabase" not in names
    assert {k for k in plane.object_keys() if k.endswith(".dump")} == dumps_before, "no safety backup was taken"
    assert snapshot(plane, host_name) == backup_state
    aside = ex.output["aside"]
    dbs = databases(plane, host_name)
    assert dbs[aside] == ASIDE_MARK and dbs[LIVE] is None
    assert not [d for d in dbs if "_incoming_" in d], "the incoming name is free after the swap"
    assert snapshot(plane, host_name, aside) == changed, "the old database is kept whole, aside"
    assert set(host.services().values()) == {"running"}
    assert plane.lock_item(host_name) is None
    (record,) = plane.asides(host_name)
    assert (record.name, record.live, record.backup_id) == (aside, LIVE, backup["backup_id"])
    hours = (record.drop_after - started).total_seconds() / 3600
    assert 23.9 < hours < 24.1, "restore.keep_aside_hours (24 by default) from the swap"
    (sent,) = [n for n in notifications_since(plane, seen) if n["Subject"] == "FreshTrack restore succeeded"]
    assert "by swap" in sent["Message"] and aside in sent["Message"]

    # not due yet: the hourly run leaves it alone
    early = plane.run("drop-asides", {})
    assert early.status == "SUCCEEDED", (early.error, early.cause)
    assert aside in databases(plane, host_name) and len(plane.asides(host_name)) == 1

    make_due(plane, record)
    due = plane.run("drop-asides", {"host": host_name})
    assert due.status == "SUCCEEDED", (due.error, due.cause)
    assert due.output is not None and due.output["report"]["dropped"] == 1
    assert aside not in databases(plane, host_name)
    assert plane.asides(host_name) == []
    assert snapshot(plane, host_name) == backup_state, "dropping the aside never touches the live database"


def test_minimal_downtime_loads_while_the_application_runs_and_stops_it_only_for_the_swap(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    backup_state = backup["state"]
    change_live(plane, host_name, "written before a minimal-downtime restore")
    with hold(host, "pg_restore", unless_arg="--list") as load:
        request = {"host": host_name, "backup_id": backup["backup_id"], "confirm": LIVE, "load_while_running": True}
        arn = plane.start_execution("restore", request)
        load.wait_held()
        # the load into the incoming database runs while the application serves (and writes) on the live one
        assert set(host.services().values()) == {"running"}
        late = change_live(plane, host_name, "written during the load")
        load.release()
        ex = plane.wait(arn, "restore")
    try:
        assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
        assert ex.output is not None and ex.output["load_while_running"] is True
        names = ex.state_names()
        assert "StopServicesBeforeSwap" in names and "StopServicesBeforeLoad" not in names
        assert names.index("CountIncoming") < names.index("StopServicesBeforeSwap") < names.index("SwapIn")
        assert snapshot(plane, host_name) == backup_state
        # what was written during the load is not in the restored database: it stayed in the aside one
        assert snapshot(plane, host_name, ex.output["aside"]) == late
        assert set(host.services().values()) == {"running"}
    finally:
        plane.drop_asides(host_name)


def test_a_failed_load_into_the_incoming_database_leaves_the_live_one_untouched(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    before = change_live(plane, host_name, "kept by a failed restore")
    seen = len(plane.notifications())
    host.set_fault("pg_restore", {"fail": True, "unless_arg": "--list", "times": 1})
    try:
        ex = restore(plane, host_name, backup)
    finally:
        host.set_fault("pg_restore", None)

    assert ex.status == "FAILED" and ex.error == "HostCommandFailed", (ex.error, ex.cause)
    names = ex.state_names()
    assert "DropIncoming" in names and "SwapIn" not in names
    assert snapshot(plane, host_name) == before
    assert not [d for d in databases(plane, host_name) if "_incoming_" in d or "_aside_" in d]
    assert set(host.services().values()) == {"running"}
    assert plane.lock_item(host_name) is None
    (sent,) = [n for n in notifications_since(plane, seen) if "FAILED" in (n["Subject"] or "")]
    assert "nothing changed" in sent["Subject"]


def test_a_failure_after_the_swap_renames_the_old_database_back(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    before = change_live(plane, host_name, "brought back by a swap-back")
    oid = host.sql("SELECT oid FROM pg_database WHERE datname = %s", (LIVE,))[0][0]
    seen = len(plane.notifications())
    host.set_fault("compose:start", {"fail": True, "times": 1})  # the start after the swap fails, once
    try:
        ex = restore(plane, host_name, backup)
    finally:
        host.set_fault("compose:start", None)
    try:
        assert ex.status == "FAILED", (ex.error, ex.cause)
        names = ex.state_names()
        assert names.index("SwapIn") < names.index("SwapBack") < names.index("RevertStartServices")
        assert "RevertLoad" not in names, "no second load: two renames"
        assert snapshot(plane, host_name) == before
        after_oid = host.sql("SELECT oid FROM pg_database WHERE datname = %s", (LIVE,))[0][0]
        assert after_oid == oid, "the very same database is live again"
        assert not [d for d in databases(plane, host_name) if "_incoming_" in d or "_aside_" in d]
        assert set(host.services().values()) == {"running"}
        assert plane.lock_item(host_name) is None
        (sent,) = [n for n in notifications_since(plane, seen) if "REVERTED" in (n["Subject"] or "")]
        assert "swap was undone" in sent["Message"]
        # the record written before the swap: the next run finds its database gone and forgets it
        (record,) = plane.asides(host_name)
        make_due(plane, record)
        swept = plane.run("drop-asides", {"host": host_name})
        assert swept.status == "SUCCEEDED", (swept.error, swept.cause)
        assert plane.asides(host_name) == []
    finally:
        plane.drop_asides(host_name)


def test_a_refused_swap_in_changes_nothing_and_a_refused_drop_keeps_the_record(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    """A database that is not ours holds the aside's name: swap-in refuses (nothing renamed), the swap-back that
    asks which side of the swap the host is on refuses too (no aside of this restore), so the incoming database
    is dropped and nothing else is touched. Then a catalog record pointing at that foreign database: drop-asides
    refuses to drop it (no marker), keeps the record with the error and notifies."""
    host = plane.host(host_name)
    before = change_live(plane, host_name, "kept by a refused swap")
    seen = len(plane.notifications())
    with hold(host, "pg_restore", unless_arg="--list") as load:
        arn = plane.start_execution("restore", {"host": host_name, "backup_id": backup["backup_id"], "confirm": LIVE})
        load.wait_held()
        foreign = swap_names(LIVE, arn).aside
        host.sql(f'CREATE DATABASE "{foreign}"', db="postgres")
        load.release()
        ex = plane.wait(arn, "restore")
    try:
        assert ex.status == "FAILED" and ex.error == "DatabaseStateRefused", (ex.error, ex.cause)
        names = ex.state_names()
        assert names.index("SwapIn") < names.index("SwapBackAfterSwapInFailure") < names.index("DropIncoming")
        assert snapshot(plane, host_name) == before
        dbs = databases(plane, host_name)
        assert foreign in dbs and dbs[foreign] is None, "the foreign database is left as it was"
        assert not [d for d in dbs if "_incoming_" in d]
        assert set(host.services().values()) == {"running"}
        (sent,) = [n for n in notifications_since(plane, seen) if "FAILED" in (n["Subject"] or "")]
        assert "nothing changed" in sent["Subject"]

        (record,) = plane.asides(host_name)
        assert record.name == foreign
        make_due(plane, record)
        seen = len(plane.notifications())
        run = plane.run("drop-asides", {"host": host_name})
        assert run.status == "SUCCEEDED", (run.error, run.cause)
        assert run.output is not None and run.output["report"]["kept"] == 1
        assert foreign in databases(plane, host_name), "a database without the aside marker is never dropped"
        (kept,) = plane.asides(host_name)
        assert kept.note is not None and "DatabaseStateRefused" in kept.note
        (sent,) = [n for n in notifications_since(plane, seen) if "KEPT" in (n["Subject"] or "")]
        assert foreign in sent["Message"]
        again = plane.run("drop-asides", {"host": host_name})
        assert again.output is not None and again.output["due"]["asides"] == [], "a kept record waits for a person"
    finally:
        plane.drop_asides(host_name)


def test_too_little_room_on_the_data_directory_takes_the_old_path(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    backup_state = backup["state"]
    change_live(plane, host_name, "replaced by the old path")
    host.set_pgdata_free_mb(100)
    try:
        ex = restore(plane, host_name, backup)
    finally:
        host.set_pgdata_free_mb(None)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None and ex.output["path"] == "drop"
    names = ex.state_names()
    assert "RecreateDatabase" in names and "SwapIn" not in names
    assert any(ex.output["safety_backup_id"] in key for key in plane.object_keys()), "the old path's safety backup"
    assert snapshot(plane, host_name) == backup_state
    assert not [d for d in databases(plane, host_name) if "_incoming_" in d or "_aside_" in d]
    assert plane.asides(host_name) == []


def test_drop_asides_refuses_an_unknown_target(plane: LocalPlane) -> None:
    ex = plane.run("drop-asides", {"host": "nowhere"})
    assert ex.status == "FAILED" and ex.error == "InvalidInput"
    assert (ex.cause or "").startswith("host:")
