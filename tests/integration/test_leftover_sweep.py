"""Leftover incoming and scratch databases, end to end over SSH and over SSM (restore/leftover.py): a restore (or a
test restore) whose load fails and whose own drop of the half-loaded copy still fails after its retries hands the
copy over, says so in its notification, and the next drop-asides run drops it; the live database's data is what it
was, and the incoming database of a restore still running is left alone.

The drop failure is injected as the fault matrix does (tests/faults/test_faults_restore.py): every ``psql`` on the
host fails (the database server refusing) from the moment the load is let go until the execution has ended."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops.restore.plan import scratch_database
from freshtrack_ops.restore.swap import swap_names
from opsctl.local.plane import LocalPlane
from tests.faults.gates import LambdaGate, lambda_gate
from tests.faults.invariants import database_digest
from tests.integration.conftest import sshd_plane, verified_backup

pytestmark = pytest.mark.integration
LIVE = "frostguard"
INCOMING_MARK = "freshtrack-ops:incoming"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane() as local_plane:
        yield local_plane


@pytest.fixture(scope="module")
def backup(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    return verified_backup(plane, host_name)


def databases(plane: LocalPlane, host_name: str) -> dict[str, str | None]:
    """Every database but the templates, with its comment (our ownership markers)."""
    rows = plane.host(host_name).sql(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE NOT datistemplate"
    )
    return {str(name): comment for name, comment in rows}


@contextlib.contextmanager
def held_load(plane: LocalPlane, workflow: str, request: dict[str, Any]) -> Iterator[tuple[str, LambdaGate]]:
    """Start ``workflow`` and hold it where its load (RestoreLoad) starts: its incoming or scratch database exists,
    empty, and the execution runs."""
    with lambda_gate("RestoreLoad") as gate:
        arn = plane.start_execution(workflow, request)
        gate.wait_entered()
        yield arn, gate


def fail_load_and_drop(plane: LocalPlane, host_name: str, gate: LambdaGate, arn: str, workflow: str) -> Any:
    """Let the held load go into a failing pg_restore while every psql fails (the copy's drop too, retries and
    all); the ended execution. The faults are cleared after it."""
    host = plane.host(host_name)
    host.set_fault("pg_restore", {"fail": True, "unless_arg": "--list"})
    host.set_fault("psql", {"fail": True, "message": "psql: error: server closed the connection unexpectedly"})
    try:
        gate.release()
        return plane.wait(arn, workflow)
    finally:
        host.set_fault("psql", None)
        host.set_fault("pg_restore", None)


def test_a_restores_leftover_incoming_database_is_swept_and_a_running_restores_is_not(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    before = database_digest(plane, host_name)
    request = {"host": host_name, "backup_id": backup["backup_id"], "confirm": LIVE, "reason": "leftover sweep"}
    seen = len(plane.notifications())
    with held_load(plane, "restore", request) as (failed_arn, gate):
        failed = fail_load_and_drop(plane, host_name, gate, failed_arn, "restore")
    leftover = swap_names(LIVE, failed_arn).incoming
    assert failed.status == "FAILED", (failed.error, failed.cause)
    names = failed.state_names()
    assert "RecordLeftoverIncoming" in names and "SwapIn" not in names
    assert databases(plane, host_name).get(leftover) == INCOMING_MARK, "the copy is left, marked incoming"
    (notice,) = [n for n in plane.notifications()[seen:] if n["Subject"].startswith("FreshTrack restore FAILED")]
    assert notice["Subject"] == "FreshTrack restore FAILED (live database untouched; a copy left behind)"
    assert leftover in notice["Message"] and "drop-asides run drops it" in notice["Message"]
    assert "nothing changed" not in notice["Subject"]
    assert database_digest(plane, host_name) == before

    # a second restore holds at its load: its incoming database exists and it runs while drop-asides sweeps
    with held_load(plane, "restore", request) as (running_arn, gate):
        running = swap_names(LIVE, running_arn).incoming
        assert databases(plane, host_name).get(running) == INCOMING_MARK
        seen = len(plane.notifications())
        sweep = plane.run("drop-asides", {"host": host_name})
        assert sweep.status == "SUCCEEDED", (sweep.error, sweep.cause)
        present = databases(plane, host_name)
        assert leftover not in present, "the leftover is dropped"
        assert present.get(running) == INCOMING_MARK, "the running restore's incoming database is not"
        assert LIVE in present
        assert sweep.output is not None and sweep.output["report"]["leftovers_dropped"] == 1
        assert f"{host_name}/{leftover} (incoming)" in sweep.output["report"]["message"]
        (swept,) = [n for n in plane.notifications()[seen:] if n["Subject"].startswith("FreshTrack drop-asides")]
        assert swept["Subject"] == "FreshTrack drop-asides: leftover databases dropped" and leftover in swept["Message"]
        plane.host(host_name).set_fault("pg_restore", {"fail": True, "unless_arg": "--list"})
        try:
            gate.release()
            second = plane.wait(running_arn, "restore")
        finally:
            plane.host(host_name).set_fault("pg_restore", None)
    assert second.status == "FAILED" and "RecordLeftoverIncoming" not in second.state_names()
    assert running not in databases(plane, host_name), "its own drop worked: nothing handed over"
    assert plane.asides(host_name) == []
    assert database_digest(plane, host_name) == before, "the live data is what it was"
    again = plane.run("drop-asides", {"host": host_name})
    assert again.status == "SUCCEEDED" and again.output is not None
    assert again.output["report"]["leftovers_dropped"] == 0


def test_a_test_restores_leftover_scratch_database_is_swept(
    plane: LocalPlane, backup: dict[str, Any], host_name: str
) -> None:
    """Last on each host: the failed test restore records the backup's verification as failed."""
    before = database_digest(plane, host_name)
    seen = len(plane.notifications())
    request = {"host": host_name, "backup_id": backup["backup_id"]}
    with held_load(plane, "test-restore", request) as (arn, gate):
        failed = fail_load_and_drop(plane, host_name, gate, arn, "test-restore")
    leftover = scratch_database(LIVE, arn)
    assert failed.status == "FAILED" and "RecordLeftoverScratch" in failed.state_names(), (failed.error, failed.cause)
    assert leftover in databases(plane, host_name)
    (notice,) = [n for n in plane.notifications()[seen:] if n["Subject"] == "FreshTrack test restore FAILED"]
    assert "scratch database was dropped" not in notice["Message"]
    assert leftover in notice["Message"] and "drop-asides run drops it" in notice["Message"]
    sweep = plane.run("drop-asides", {})  # every target, as the hourly schedule runs it
    assert sweep.status == "SUCCEEDED", (sweep.error, sweep.cause)
    assert leftover not in databases(plane, host_name)
    assert sweep.output is not None and f"{host_name}/{leftover} (scratch)" in sweep.output["report"]["message"]
    assert database_digest(plane, host_name) == before
