"""Create, drop, recreate and swap databases on the host — with the live database guarded twice (here, then in
database.sh)."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.errors import DatabaseBusy, DatabaseStateRefused, HostCommandFailed, InvalidInput, OpsError
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import DatabaseEvent
from freshtrack_ops.ports import CommandResult, HostRunner

#: database.sh's exit codes that name a refusal a workflow may tell apart (66 a name taken, 67 a database missing,
#: 68 not marked as ours, 69 sessions kept coming back); any other failure is HostCommandFailed
_REFUSALS: dict[int, type[OpsError]] = {
    66: DatabaseStateRefused,
    67: DatabaseStateRefused,
    68: DatabaseStateRefused,
    69: DatabaseBusy,
}
#: the actions that take an aside database (and only they)
ASIDE_ACTIONS = ("swap-in", "swap-back", "drop-aside")


def database_action(event: DatabaseEvent, target: Target, runner: HostRunner) -> str:
    return read_database_action(event, target, database_command(event, target).run(runner))


def database_command(event: DatabaseEvent, target: Target) -> HostCommand:
    """The command for ``event``; refuses (InvalidInput) what must never reach the host."""
    _check(event, target.database)
    env = host_env(target) | {
        "ACTION": event.action,
        "TARGET_DB": event.database,
        "CONFIRM_DB": event.confirm,
        "ASIDE_DB": event.aside or "",
    }
    return HostCommand("database.sh", env, 300)


def _check(event: DatabaseEvent, live: str) -> None:
    is_live = event.database == live
    if event.action in ("create-scratch", "drop-scratch") and is_live:
        raise InvalidInput(f"database: {event.database!r} is the live database; scratch actions refuse it")
    if event.action == "recreate-live" and (not is_live or event.confirm != live):
        raise InvalidInput(f"confirm: recreating {event.database!r} needs confirm={live!r}")
    if event.aside is not None and event.action not in ASIDE_ACTIONS:
        raise InvalidInput(f"aside: only {', '.join(ASIDE_ACTIONS)} take an aside database (got {event.aside!r})")
    if event.action in ("create-incoming", "drop-incoming") and is_live:
        raise InvalidInput(f"database: {event.action} refuses the live database (got {event.database!r})")
    if event.action in ("swap-in", "swap-back"):
        if event.confirm != live:
            raise InvalidInput(
                f"confirm: {event.action} needs the live database's name {live!r} (got {event.confirm!r})"
            )
        if is_live:
            raise InvalidInput(f"database: {event.action} needs the incoming database, not the live one (got {live!r})")
        if event.aside is None:
            raise InvalidInput(f"aside: {event.action} needs the aside database's name (got None)")
        if event.aside in (live, event.database):
            raise InvalidInput(f"aside: must differ from the live and the incoming database (got {event.aside!r})")
    if event.action == "drop-aside":
        if event.aside != event.database:
            raise InvalidInput(f"aside: drop-aside names the aside twice, as database and aside (got {event.aside!r})")
        if is_live:
            raise InvalidInput(f"aside: drop-aside refuses the live database (got {event.database!r})")


def read_database_action(event: DatabaseEvent, target: Target, result: CommandResult) -> str:
    if result.exit_code != 0:
        error = _REFUSALS.get(result.exit_code, HostCommandFailed)
        raise error(f"{target.id}: {event.action} {event.database} failed: {tail(result.stderr)}")
    return result.stdout.strip()
