"""Restore by swap: database.sh's create-incoming, drop-incoming, swap-in, swap-back and drop-aside against the real
PostgreSQL of a local host (docs/restore-swap.md).

The first part runs the DatabaseStep as a workflow does (``lambda:invoke.waitForTaskToken``, the real handler and
its IAM role) over SSH ("demo") and SSM ("demo-ssm", the local plane's agent stand-in): the plane's restore state
machine is replaced by the task (the restore workflow's rewiring is another change), optionally followed by a
second action and by the undo of the execution's undo log (what the lock janitor runs after an abort). The second
part runs the script alone (the local transport) for the refusals the Python guards never let through, so the
script's own guards are what is tested, and for the swap's retry."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.adapters.local import LocalRunner
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.host_env import host_env
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.restore.swap import swap_names
from opsctl.local.host import LocalHost
from opsctl.local.names import function_arn
from opsctl.local.plane import Execution, LocalPlane
from opsctl.local.sshd import available as sshd_available
from tests.integration.conftest import host_task_state

pytestmark = pytest.mark.integration

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}
LIVE = "frostguard"
INCOMING_MARK = "freshtrack-ops:incoming"
ASIDE_MARK = f"freshtrack-ops:aside:{LIVE}"


def database_state(prefix: str, result_path: str, next_state: str) -> dict[str, Any]:
    """The HostDatabase task with its event's fields at ``prefix`` of the input."""
    fields = ("host", "action", "database", "confirm", "aside")
    state = host_task_state("HostDatabase", {f"{name}.$": f"{prefix}.{name}" for name in fields})
    del state["End"]
    return state | {"ResultPath": result_path, "Next": next_state}


#: The task as the workflows call it; its result is the output. ``then`` (optional): a second action in the same
#: execution; ``undo``: the execution then undoes its undo log as the lock janitor does after an abort
#: (``host_work.stop_host_work`` of every kind: the ``StopHostWork`` task with scope ``all``), and outputs its report.
DEFINITION = {
    "StartAt": "Database",
    "States": {
        "Database": database_state("$", "$.done", "Then"),
        "Then": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.then", "IsPresent": True, "Next": "Second"}],
            "Default": "UndoOrFinish",
        },
        "Second": database_state("$.then", "$.then_done", "UndoOrFinish"),
        "UndoOrFinish": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.undo", "BooleanEquals": True, "Next": "Undo"}],
            "Default": "Finish",
        },
        "Undo": {
            "Type": "Task",
            "Resource": function_arn("StopHostWork"),
            "Parameters": {"execution_id.$": "$$.Execution.Id", "scope": "all"},
            "End": True,
        },
        "Finish": {"Type": "Pass", "OutputPath": "$.done", "End": True},
    },
}


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=200, use_sshd=True) as local_plane:
        local_plane.sfn.update_state_machine(
            stateMachineArn=local_plane.state_machine_arn("restore"), definition=json.dumps(DEFINITION)
        )
        yield local_plane


@pytest.fixture(autouse=True)
def _clean(plane: LocalPlane) -> Iterator[None]:
    """Every test starts and ends with the live database alone (what a test leaves is dropped after it)."""
    yield
    host = plane.host("demo")
    for (name,) in host.sql("SELECT datname FROM pg_database", db="postgres"):
        if name.startswith(f"{LIVE}_"):
            host.sql(f'DROP DATABASE "{name}" WITH (FORCE)', db="postgres")


SEED_COPY = "seed_copy_of_live"


@pytest.fixture
def seed_kept(plane: LocalPlane) -> Iterator[None]:
    """For a test that drops the original live database: a copy of it (CREATE DATABASE ... TEMPLATE) is put back
    under the live name after the test."""
    host = plane.host("demo")
    data = fingerprint(host, LIVE)
    host.sql(f'CREATE DATABASE "{SEED_COPY}" TEMPLATE "{LIVE}" OWNER frostguard', db="postgres")
    yield
    host.sql(f'DROP DATABASE IF EXISTS "{LIVE}" WITH (FORCE)', db="postgres")
    host.sql(f'ALTER DATABASE "{SEED_COPY}" RENAME TO "{LIVE}"', db="postgres")
    assert fingerprint(host, LIVE) == data


def run(plane: LocalPlane, host: str, action: str, database: str, **fields: str | None) -> Execution:
    execution = plane.run("restore", event(host, action, database, **fields) | {"undo": False}, timeout_s=180)
    plane.wait_ssm_idle()
    return execution


def event(host: str, action: str, database: str, **fields: str | None) -> dict[str, Any]:
    return {"host": host, "action": action, "database": database, "confirm": "", "aside": None} | fields


def undone(plane: LocalPlane, execution_input: dict[str, Any]) -> dict[str, Any]:
    """Run the action(s), then undo the execution's undo log as the janitor would after an abort; its report."""
    execution = plane.run("restore", execution_input | {"undo": True}, timeout_s=180)
    plane.wait_ssm_idle()
    assert execution.status == "SUCCEEDED" and execution.output is not None, (execution.error, execution.cause)
    return execution.output


def ok(plane: LocalPlane, host: str, action: str, database: str, **fields: str | None) -> dict[str, Any]:
    execution = run(plane, host, action, database, **fields)
    assert execution.status == "SUCCEEDED", (action, execution.error, execution.cause)
    assert execution.output is not None
    return execution.output


def databases(host: LocalHost) -> dict[str, tuple[int, str | None]]:
    """Every database but the templates: name -> (oid, comment). The oid is the database itself: a rename keeps it."""
    rows = host.sql(
        "SELECT datname, oid::int, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE NOT datistemplate AND datname <> 'postgres'",
        db="postgres",
    )
    return {name: (oid, comment) for name, oid, comment in rows}


def fingerprint(host: LocalHost, db: str) -> str:
    """Every row of every table in schema public, hashed: equal fingerprints are equal data."""
    tables = [
        r[0] for r in host.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", db=db)
    ]
    parts = []
    for table in tables:
        digest = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM "
        rows = host.sql(digest + f'"{table}" t', db=db)
        parts.append(f"{table}:{rows[0][0]}")
    return ";".join(parts)


def load_marker(host: LocalHost, db: str, value: str) -> None:
    """What a load would put into the incoming database (a table the live one lacks)."""
    host.sql(f"CREATE TABLE restored_marker (value text); INSERT INTO restored_marker VALUES ('{value}')", db=db)


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_swap_in_then_swap_back_leaves_the_live_database_exactly_as_before(plane: LocalPlane, transport: str) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    names = swap_names(LIVE, f"arn:test:{transport}:swap-and-back")
    before = databases(host)
    live_oid, live_data = before[LIVE][0], fingerprint(host, LIVE)
    assert live_data and "restored_marker" not in live_data

    ok(plane, name, "create-incoming", names.incoming)
    assert databases(host)[names.incoming][1] == INCOMING_MARK
    owner = host.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [names.incoming], "postgres")
    assert owner == [("frostguard",)]
    load_marker(host, names.incoming, transport)
    incoming_oid = databases(host)[names.incoming][0]

    # a session of the application on the live database does not block the swap: it is ended
    held = psycopg.connect(**host.pg_conninfo() | {"dbname": LIVE}, autocommit=True)
    try:
        swapped = ok(plane, name, "swap-in", names.incoming, confirm=LIVE, aside=names.aside)
        assert swapped == {"result": f"done: swap-in {names.incoming}"}
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    finally:
        held.close()
    after_in = databases(host)
    assert after_in[LIVE] == (incoming_oid, None)  # the loaded database is live, unmarked
    assert after_in[names.aside] == (live_oid, ASIDE_MARK)  # the old one kept, marked, untouched
    assert names.incoming not in after_in
    assert host.sql("SELECT value FROM restored_marker", db=LIVE) == [(transport,)]
    assert fingerprint(host, names.aside) == live_data

    back = ok(plane, name, "swap-back", names.incoming, confirm=LIVE, aside=names.aside)
    assert back == {"result": f"done: swap-back {names.incoming}"}
    after_back = databases(host)
    assert after_back[LIVE] == (live_oid, None)  # the very database that was live before
    assert fingerprint(host, LIVE) == live_data
    assert after_back[names.incoming] == (incoming_oid, INCOMING_MARK)  # the failed restore, for a look
    assert names.aside not in after_back

    ok(plane, name, "drop-incoming", names.incoming)
    assert databases(host) == before


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_verified_swap_drops_the_aside_later(plane: LocalPlane, transport: str, seed_kept: None) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    names = swap_names(LIVE, f"arn:test:{transport}:drop-aside")
    live_oid = databases(host)[LIVE][0]
    ok(plane, name, "create-incoming", names.incoming)
    load_marker(host, names.incoming, "kept")
    ok(plane, name, "swap-in", names.incoming, confirm=LIVE, aside=names.aside)
    new_live = databases(host)[LIVE]
    dropped = ok(plane, name, "drop-aside", names.aside, aside=names.aside)
    assert dropped == {"result": f"done: drop-aside {names.aside}"}
    after = databases(host)
    assert names.aside not in after and after[LIVE] == new_live and live_oid not in [oid for oid, _ in after.values()]
    assert host.sql("SELECT value FROM restored_marker", db=LIVE) == [("kept",)]
    # repeatable: the aside is gone, a second drop (a retried step, the schedule) is done
    ok(plane, name, "drop-aside", names.aside, aside=names.aside)
    # and a swap-back without an aside changes nothing
    failed = run(plane, name, "swap-back", names.incoming, confirm=LIVE, aside=names.aside)
    assert (failed.status, failed.error) == ("FAILED", "DatabaseStateRefused"), failed.cause
    assert "does not exist" in (failed.cause or "")
    assert databases(host) == after


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_the_undo_log_drops_an_incoming_database_but_never_the_aside(
    plane: LocalPlane, transport: str, seed_kept: None
) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    live_oid, live_data = databases(host)[LIVE][0], fingerprint(host, LIVE)
    before = databases(host)

    # ended after create-incoming (a load under way): the undo log drops the incoming database
    loading = swap_names(LIVE, f"arn:test:{transport}:aborted-load")
    report = undone(plane, event(name, "create-incoming", loading.incoming))
    assert (report["undone"], report["failed"]) == ([f"incoming#{loading.incoming}"], [])
    assert databases(host) == before

    # ended after create-incoming and swap-in, in one execution: the restored database stays live and the old one
    # stays aside, marked — the way back is never dropped by a cleanup (the swap-in resolved the incoming entry:
    # nothing is left to undo)
    names = swap_names(LIVE, f"arn:test:{transport}:aborted-after-swap")
    swap = event(name, "swap-in", names.incoming, confirm=LIVE, aside=names.aside)
    report = undone(plane, event(name, "create-incoming", names.incoming) | {"then": swap})
    assert (report["undone"], report["failed"]) == ([], [])
    after = databases(host)
    assert after[names.aside] == (live_oid, ASIDE_MARK)
    assert fingerprint(host, names.aside) == live_data
    assert after[LIVE][0] != live_oid and names.incoming not in after

    # ended after a swap-back: the old database is live again, and the failed restore (renamed to the incoming
    # name, recorded by the swap-back before it ran) is dropped by the undo log
    back = undone(plane, event(name, "swap-back", names.incoming, confirm=LIVE, aside=names.aside))
    assert (back["undone"], back["failed"]) == ([f"incoming#{names.incoming}"], [])
    assert databases(host) == before
    assert fingerprint(host, LIVE) == live_data


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_swap_in_is_refused_when_the_aside_exists_and_nothing_changes(plane: LocalPlane, transport: str) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    names = swap_names(LIVE, f"arn:test:{transport}:aside-exists")
    ok(plane, name, "create-incoming", names.incoming)
    host.sql(f'CREATE DATABASE "{names.aside}"', db="postgres")
    before = databases(host)
    refused = run(plane, name, "swap-in", names.incoming, confirm=LIVE, aside=names.aside)
    assert (refused.status, refused.error) == ("FAILED", "DatabaseStateRefused"), refused.cause
    assert f"{names.aside} exists" in (refused.cause or "")
    assert databases(host) == before


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_create_incoming_replaces_a_leftover_of_ours_and_refuses_anything_else(
    plane: LocalPlane, transport: str
) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    names = swap_names(LIVE, f"arn:test:{transport}:leftover")
    ok(plane, name, "create-incoming", names.incoming)
    load_marker(host, names.incoming, "partial load")
    first = databases(host)[names.incoming][0]
    ok(plane, name, "create-incoming", names.incoming)  # a retried load starts from an empty database
    assert databases(host)[names.incoming][0] != first
    assert host.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db=names.incoming) == [(0,)]

    other = swap_names(LIVE, f"arn:test:{transport}:somebody-elses").incoming
    host.sql(f'CREATE DATABASE "{other}"', db="postgres")
    load_marker(host, other, "not ours")
    before = databases(host)
    refused = run(plane, name, "create-incoming", other)
    assert (refused.status, refused.error) == ("FAILED", "DatabaseStateRefused")
    assert "no incoming database of ours" in (refused.cause or "")
    # nor does the undo's drop-incoming touch it
    not_ours = run(plane, name, "drop-incoming", other)
    assert (not_ours.status, not_ours.error) == ("FAILED", "DatabaseStateRefused")
    assert databases(host) == before
    assert host.sql("SELECT value FROM restored_marker", db=other) == [("not ours",)]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_the_live_database_is_refused_before_the_host_is_touched(plane: LocalPlane, transport: str) -> None:
    name = TRANSPORTS[transport]
    host = plane.host(name)
    seen = len(host.commands())
    before = databases(host)
    for action, fields in (
        ("drop-aside", {"aside": LIVE}),
        ("create-incoming", {}),
        ("drop-incoming", {}),
        ("swap-in", {"confirm": LIVE, "aside": "frostguard_aside_x"}),
    ):
        refused = run(plane, name, action, LIVE, **fields)
        assert (refused.status, refused.error) == ("FAILED", "InvalidInput"), (action, refused.cause)
    assert databases(host) == before
    assert len(host.commands()) == seen


# -- the script alone: its own guards ---------------------------------------------------------------------------
RUNNER = LocalRunner("swap-tests")


def script(plane: LocalPlane, action: str, target_db: str, **extra: str) -> CommandResult:
    env = host_env(plane.target("demo")) | {"ACTION": action, "TARGET_DB": target_db, "CONFIRM_DB": "", "ASIDE_DB": ""}
    return RUNNER.run("database.sh", env | extra, timeout_s=120)


def test_the_script_refuses_what_the_guards_never_let_through(plane: LocalPlane) -> None:
    host = plane.host("demo")
    names = swap_names(LIVE, "arn:test:script-guards")
    host.sql(f'CREATE DATABASE "{names.aside}"', db="postgres")  # unmarked: not ours
    ok(plane, "demo", "create-incoming", names.incoming)
    before = databases(host)
    cases = [
        (65, "drop-aside", LIVE, {"ASIDE_DB": LIVE}),  # the live database, typed twice
        (65, "drop-aside", names.aside, {"ASIDE_DB": names.incoming}),  # not typed twice
        (68, "drop-aside", names.aside, {"ASIDE_DB": names.aside}),  # exists, but no aside of ours
        (65, "create-incoming", LIVE, {}),
        (65, "drop-incoming", LIVE, {}),
        (68, "drop-incoming", names.aside, {}),
        (65, "swap-in", names.incoming, {"ASIDE_DB": names.aside}),  # no confirmation
        (65, "swap-in", names.incoming, {"CONFIRM_DB": LIVE, "ASIDE_DB": LIVE}),
        (65, "swap-in", names.incoming, {"CONFIRM_DB": LIVE, "ASIDE_DB": names.incoming}),
        (66, "swap-in", names.incoming, {"CONFIRM_DB": LIVE, "ASIDE_DB": names.aside}),
        (67, "swap-in", f"{LIVE}_missing", {"CONFIRM_DB": LIVE, "ASIDE_DB": f"{LIVE}_free"}),
        (68, "swap-in", names.aside, {"CONFIRM_DB": LIVE, "ASIDE_DB": f"{LIVE}_free"}),  # not an incoming one
        (68, "swap-back", f"{LIVE}_free", {"CONFIRM_DB": LIVE, "ASIDE_DB": names.aside}),  # not marked aside
        (67, "swap-back", f"{LIVE}_free", {"CONFIRM_DB": LIVE, "ASIDE_DB": f"{LIVE}_gone"}),
        (64, "stop", names.incoming, {}),  # another script's action
    ]
    for code, action, target_db, extra in cases:
        result = script(plane, action, target_db, **extra)
        assert (result.exit_code, result.stdout) == (code, ""), (action, target_db, extra, result.stderr)
        assert "refusing" in result.stderr or "unknown ACTION" in result.stderr
    # a name the parameter table refuses never reaches bash through a runner; bash given it anyway refuses it too
    env = host_env(plane.target("demo")) | {"ACTION": "swap-in", "TARGET_DB": names.incoming, "CONFIRM_DB": LIVE}
    evil = env | {"ASIDE_DB": 'x"; DROP DATABASE frostguard; --'}
    with pytest.raises(InvalidInput, match="ASIDE_DB"):
        RUNNER.run("database.sh", evil, timeout_s=60)
    raw = subprocess.run(
        ["bash", "-c", host_scripts.load("database.sh"), "database.sh"],
        env=evil | {"PATH": os.environ["PATH"]},
        capture_output=True,
        check=False,
    )
    assert raw.returncode == 64 and b"refusing identifier" in raw.stderr
    assert databases(host) == before


def test_swap_back_refuses_a_taken_name_and_still_brings_back_an_aside_without_a_live_database(
    plane: LocalPlane,
) -> None:
    host = plane.host("demo")
    names = swap_names(LIVE, "arn:test:no-live")
    live_oid, live_data = databases(host)[LIVE][0], fingerprint(host, LIVE)
    ok(plane, "demo", "create-incoming", names.incoming)
    ok(plane, "demo", "swap-in", names.incoming, confirm=LIVE, aside=names.aside)
    other = f"{LIVE}_taken"
    host.sql(f'CREATE DATABASE "{other}"', db="postgres")
    before = databases(host)
    taken = script(plane, "swap-back", other, CONFIRM_DB=LIVE, ASIDE_DB=names.aside)
    assert taken.exit_code == 66 and databases(host) == before, taken.stderr
    # the restored live database is lost (dropped by hand): swap-back still brings the aside back
    host.sql(f'DROP DATABASE "{LIVE}" WITH (FORCE)', db="postgres")
    back = script(plane, "swap-back", names.incoming, CONFIRM_DB=LIVE, ASIDE_DB=names.aside)
    assert back.exit_code == 0, back.stderr
    after = databases(host)
    assert after[LIVE] == (live_oid, None) and names.aside not in after and names.incoming not in after
    assert fingerprint(host, LIVE) == live_data


def test_a_session_that_comes_back_is_retried_then_refused_and_other_errors_are_not_retried(
    plane: LocalPlane,
) -> None:
    """The swap's transaction failing with 55006 (a session reconnected between the terminate and the rename: the
    server's error, here injected by the docker shim into the swap's psql calls, the state reads spared) is tried
    again, SWAP_ATTEMPTS times; any other error is not. (The real server's 55006 and its rollback: the PostgreSQL
    facts in docs/restore-swap.md.)"""
    host = plane.host("demo")
    names = swap_names(LIVE, "arn:test:busy")
    live_oid = databases(host)[LIVE][0]
    ok(plane, "demo", "create-incoming", names.incoming)
    before = databases(host)
    busy = {
        "fail": True,
        "exit_code": 3,
        "unless_arg": "-At",  # state_of's reads
        "message": f'psql:<stdin>:4: ERROR:  55006: database "{LIVE}" is being accessed by other users',
    }
    swap_in = {"CONFIRM_DB": LIVE, "ASIDE_DB": names.aside}
    try:
        host.set_fault("psql", busy | {"times": 5})
        refused = script(plane, "swap-in", names.incoming, **swap_in)
        assert refused.exit_code == 69 and "5 attempts, nothing renamed" in refused.stderr, refused.stderr
        assert databases(host) == before and faults(host) == {}  # all five attempts were made

        host.set_fault("psql", busy | {"times": 2})  # two attempts refused, the third goes through
        swapped = script(plane, "swap-in", names.incoming, **swap_in)
        assert swapped.exit_code == 0, swapped.stderr
        assert databases(host)[names.aside] == (live_oid, ASIDE_MARK) and faults(host) == {}

        taken = busy | {"message": 'psql:<stdin>:5: ERROR:  42P04: database "x" already exists'}
        host.set_fault("psql", taken | {"times": 2})
        failed = script(plane, "swap-back", names.incoming, **swap_in)
        assert failed.exit_code == 70 and "42P04" in failed.stderr
        assert faults(host)["psql"]["times"] == 1  # tried once, not again
    finally:
        host.set_fault("psql", None)
    back = script(plane, "swap-back", names.incoming, **swap_in)
    assert back.exit_code == 0, back.stderr
    assert databases(host)[LIVE] == (live_oid, None)


def faults(host: LocalHost) -> dict[str, Any]:
    path = host.state_dir / "faults.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}
