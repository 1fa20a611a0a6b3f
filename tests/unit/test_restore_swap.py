"""Restore by swap, the control plane's side: the swap's database names, the guards database.sh's new actions get
in Python (what must never reach the host), the undo log's entries (an incoming database is dropped after an abort,
an aside database never), and the swap-or-drop decision from the preflight's figures."""

from __future__ import annotations

import json
import re

import pytest

from freshtrack_ops.config import LocalTarget
from freshtrack_ops.errors import DatabaseBusy, DatabaseStateRefused, HostCommandFailed, InvalidInput
from freshtrack_ops.host_scripts.parameters import check_values
from freshtrack_ops.models import DatabaseActionResult, DatabaseEvent
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.restore.database import database_command, read_database_action
from freshtrack_ops.restore.swap import MIB, RESERVE_MB, decide_restore_path, needed_mb, short_id, swap_names
from freshtrack_ops.steps.base import NoContext
from freshtrack_ops.steps.registry import DATABASE

TARGET = LocalTarget(id="demo", domain="demo.freshtrack.local")
LIVE = TARGET.database
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:restore:run-1"
NAMES = swap_names(LIVE, EXECUTION)
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def event(action: str, database: str, **fields: str | None) -> DatabaseEvent:
    return DatabaseEvent.model_validate({"host": "demo", "action": action, "database": database} | fields)


# -- names -------------------------------------------------------------------------------------------------------
def test_the_names_are_per_execution_and_the_same_for_every_attempt() -> None:
    sid = short_id(EXECUTION)
    assert re.fullmatch(r"[0-9a-f]{8}", sid)
    assert (NAMES.incoming, NAMES.aside) == (f"{LIVE}_incoming_{sid}", f"{LIVE}_aside_{sid}")
    assert swap_names(LIVE, EXECUTION) == NAMES  # a retried step finds the same databases
    other = swap_names(LIVE, EXECUTION + "-2")
    assert {other.incoming, other.aside}.isdisjoint({NAMES.incoming, NAMES.aside})


@pytest.mark.parametrize("live", ["a", "frostguard", "x" * 45, "y" * 48, "z" * 63, "_" + "9" * 62])
def test_the_names_are_identifiers_within_63_characters_and_never_the_live_one(live: str) -> None:
    names = swap_names(live, EXECUTION)
    for name in (names.incoming, names.aside):
        assert IDENT.fullmatch(name) and len(name) <= 63
        check_values("database.sh", {"TARGET_DB": name, "ASIDE_DB": name})
    assert len({live, names.incoming, names.aside}) == 3


def test_a_name_needs_an_execution() -> None:
    with pytest.raises(InvalidInput, match=r"^execution_id: .*\(got ''\)"):
        swap_names(LIVE, "")


def test_a_live_name_cut_to_look_like_ours_is_refused() -> None:
    """A 63-character live name ending in exactly the aside suffix would be its own aside: refused."""
    suffix = "_aside_" + short_id(EXECUTION)
    live = "q" * (63 - len(suffix)) + suffix
    with pytest.raises(InvalidInput, match=r"^database: .*\(got "):
        swap_names(live, EXECUTION)


# -- guards ------------------------------------------------------------------------------------------------------
def test_the_swap_actions_reach_the_host_with_their_names() -> None:
    command = database_command(event("swap-in", NAMES.incoming, confirm=LIVE, aside=NAMES.aside), TARGET)
    assert command.script == "database.sh"
    assert {k: command.env[k] for k in ("ACTION", "TARGET_DB", "CONFIRM_DB", "ASIDE_DB", "DB_NAME")} == {
        "ACTION": "swap-in",
        "TARGET_DB": NAMES.incoming,
        "CONFIRM_DB": LIVE,
        "ASIDE_DB": NAMES.aside,
        "DB_NAME": LIVE,
    }
    check_values("database.sh", dict(command.env))
    assert database_command(event("create-scratch", "x_verify"), TARGET).env["ASIDE_DB"] == ""
    drop = database_command(event("drop-aside", NAMES.aside, aside=NAMES.aside), TARGET)
    assert (drop.env["TARGET_DB"], drop.env["ASIDE_DB"]) == (NAMES.aside, NAMES.aside)
    for action in ("create-incoming", "drop-incoming"):
        assert database_command(event(action, NAMES.incoming), TARGET).env["TARGET_DB"] == NAMES.incoming
    back = database_command(event("swap-back", NAMES.incoming, confirm=LIVE, aside=NAMES.aside), TARGET)
    assert back.env["ACTION"] == "swap-back"


@pytest.mark.parametrize(
    ("action", "database", "fields", "message"),
    [
        ("create-incoming", LIVE, {}, r"^database: create-incoming refuses the live database \(got 'frostguard'\)$"),
        ("drop-incoming", LIVE, {}, r"^database: drop-incoming refuses the live database"),
        (
            "create-incoming",
            NAMES.incoming,
            {"aside": NAMES.aside},
            r"^aside: only swap-in, swap-back, drop-aside take",
        ),
        ("drop-scratch", "x_verify", {"aside": NAMES.aside}, r"^aside: only "),
        (
            "swap-in",
            NAMES.incoming,
            {"aside": NAMES.aside},
            r"^confirm: swap-in needs the live database's name .*\(got ''\)",
        ),
        ("swap-in", NAMES.incoming, {"confirm": "other", "aside": NAMES.aside}, r"^confirm: .*\(got 'other'\)"),
        ("swap-in", LIVE, {"confirm": LIVE, "aside": NAMES.aside}, r"^database: swap-in needs the incoming database"),
        ("swap-in", NAMES.incoming, {"confirm": LIVE}, r"^aside: swap-in needs the aside database's name \(got None\)"),
        ("swap-in", NAMES.incoming, {"confirm": LIVE, "aside": LIVE}, r"^aside: must differ .*\(got 'frostguard'\)"),
        ("swap-in", NAMES.incoming, {"confirm": LIVE, "aside": NAMES.incoming}, r"^aside: must differ"),
        ("swap-back", NAMES.incoming, {"aside": NAMES.aside}, r"^confirm: swap-back needs"),
        ("swap-back", NAMES.incoming, {"confirm": LIVE, "aside": LIVE}, r"^aside: must differ"),
        ("swap-back", LIVE, {"confirm": LIVE, "aside": NAMES.aside}, r"^database: swap-back needs the incoming"),
        ("drop-aside", NAMES.aside, {}, r"^aside: drop-aside names the aside twice.*\(got None\)"),
        ("drop-aside", NAMES.aside, {"aside": NAMES.incoming}, r"^aside: drop-aside names the aside twice"),
        ("drop-aside", LIVE, {"aside": LIVE}, r"^aside: drop-aside refuses the live database \(got 'frostguard'\)$"),
    ],
)
def test_what_must_never_reach_the_host_is_refused(
    action: str, database: str, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        database_command(event(action, database, **fields), TARGET)


def test_the_old_guards_still_hold() -> None:
    with pytest.raises(InvalidInput, match="scratch actions refuse it"):
        database_command(event("drop-scratch", LIVE), TARGET)
    with pytest.raises(InvalidInput, match="needs confirm="):
        database_command(event("recreate-live", LIVE), TARGET)


@pytest.mark.parametrize(
    ("exit_code", "error"),
    [
        (66, DatabaseStateRefused),
        (67, DatabaseStateRefused),
        (68, DatabaseStateRefused),
        (69, DatabaseBusy),
        (65, HostCommandFailed),
        (70, HostCommandFailed),
        (3, HostCommandFailed),
    ],
)
def test_the_scripts_refusals_are_named_errors(exit_code: int, error: type[Exception]) -> None:
    swap = event("swap-in", NAMES.incoming, confirm=LIVE, aside=NAMES.aside)
    result = CommandResult(exit_code=exit_code, stdout="", stderr="refusing: why")
    with pytest.raises(error, match=r"^demo: swap-in .* failed: refusing: why$") as raised:
        read_database_action(swap, TARGET, result)
    assert type(raised.value) is error
    assert read_database_action(swap, TARGET, CommandResult(exit_code=0, stdout="done: x\n", stderr="")) == "done: x"


# -- the undo log ------------------------------------------------------------------------------------------------
def test_an_incoming_database_is_recorded_before_it_is_created_and_resolved_by_its_drop() -> None:
    created = event("create-incoming", NAMES.incoming)
    entry = DATABASE.undo_entry(created, TARGET, NoContext())
    assert entry is not None
    assert (entry.key, entry.kind, entry.step, entry.host) == (
        f"incoming#{NAMES.incoming}",
        "scratch",
        "database",
        "demo",
    )
    undo = DatabaseEvent.model_validate_json(entry.event)
    assert (undo.action, undo.database, undo.aside) == ("drop-incoming", NAMES.incoming, None)
    command = DATABASE.undo(entry, TARGET)
    assert command is not None and command.env["ACTION"] == "drop-incoming"
    done = DatabaseActionResult(result="done")
    assert DATABASE.resolved_keys(event("drop-incoming", NAMES.incoming), done) == [entry.key]
    assert DATABASE.resolved_keys(created, done) == []
    # swap-in renames the incoming database to the live name: its entry must go (an undo after that point would
    # drop nothing under the free name, but a later swap-back records the name again for the failed restore)
    swap_in = event("swap-in", NAMES.incoming, confirm=LIVE, aside=NAMES.aside)
    assert DATABASE.resolved_keys(swap_in, done) == [entry.key]


def test_a_swap_back_records_the_failed_restore_under_the_incoming_name() -> None:
    """swap-back renames the failed live database to the incoming name: recorded before it runs, so an execution
    that ends before its DropFailedIncoming still gets it dropped; the undo is a drop-incoming of that name, never
    anything on the aside or the live name."""
    back = event("swap-back", NAMES.incoming, confirm=LIVE, aside=NAMES.aside)
    entry = DATABASE.undo_entry(back, TARGET, NoContext())
    assert entry is not None and entry.key == f"incoming#{NAMES.incoming}"
    undo = DatabaseEvent.model_validate_json(entry.event)
    assert (undo.action, undo.database, undo.confirm, undo.aside) == ("drop-incoming", NAMES.incoming, "", None)


def test_scratch_databases_keep_their_undo_key() -> None:
    entry = DATABASE.undo_entry(event("create-scratch", "x_verify_1"), TARGET, NoContext())
    assert entry is not None and entry.key == "scratch#x_verify_1"
    assert json.loads(entry.event)["action"] == "drop-scratch"
    done = DatabaseActionResult(result="done")
    assert DATABASE.resolved_keys(event("drop-scratch", "x_verify_1"), done) == [entry.key]


@pytest.mark.parametrize(
    ("action", "database", "fields"),
    [
        ("swap-in", NAMES.incoming, {"confirm": LIVE, "aside": NAMES.aside}),
        ("drop-aside", NAMES.aside, {"aside": NAMES.aside}),
        ("drop-incoming", NAMES.incoming, {}),
        ("recreate-live", LIVE, {"confirm": LIVE}),
    ],
)
def test_an_aside_database_is_never_recorded_for_the_undo_log(
    action: str, database: str, fields: dict[str, str]
) -> None:
    """The aside is the way back: only an explicit drop-aside removes it, never an aborted execution's cleanup."""
    assert DATABASE.undo_entry(event(action, database, **fields), TARGET, NoContext()) is None


# -- swap or drop ------------------------------------------------------------------------------------------------
GIB = 1024 * MIB


def test_needed_is_the_incoming_size_with_a_quarter_more_and_the_reserve() -> None:
    assert needed_mb(0) == RESERVE_MB
    assert needed_mb(4 * GIB) == 5 * 1024 + RESERVE_MB
    assert needed_mb(1) == 1 + RESERVE_MB  # rounded up, never down
    with pytest.raises(ValueError, match="bad figures"):
        needed_mb(-1)
    with pytest.raises(ValueError, match="bad figures"):
        needed_mb(1, factor=0.5)


@pytest.mark.parametrize(
    ("free_mb", "live", "backup", "path"),
    [
        (5 * 1024 + RESERVE_MB, 4 * GIB, None, "swap"),  # exactly enough
        (5 * 1024 + RESERVE_MB - 1, 4 * GIB, None, "drop"),  # one MB short
        (100_000, 4 * GIB, 80 * GIB, "drop"),  # the backup's database was far larger than today's
        (100_000, 80 * GIB, 1 * GIB, "drop"),  # the live database grew: the larger size counts
        (100_000, 1 * GIB, 2 * GIB, "swap"),
        (RESERVE_MB, 0, 0, "swap"),  # an empty database still needs the reserve
        (RESERVE_MB - 1, 0, 0, "drop"),
        (-1, 1, 1, "drop"),  # an unreadable df
    ],
)
def test_the_swap_is_chosen_only_with_room_for_the_incoming_database(
    free_mb: int, live: int, backup: int | None, path: str
) -> None:
    decision = decide_restore_path(free_mb, live, backup)
    assert decision.path == path, decision
    assert decision.free_mb == free_mb
    assert str(free_mb) in decision.reason
    if free_mb >= 0:
        assert decision.needed_mb == needed_mb(max(live, backup or 0))
        assert (decision.free_mb >= decision.needed_mb) == (path == "swap")
