"""Create, drop and recreate databases on the host — with the live database guarded twice."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, InvalidInput
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import DatabaseEvent
from freshtrack_ops.ports import CommandResult, HostRunner


def database_action(event: DatabaseEvent, target: Target, runner: HostRunner) -> str:
    return read_database_action(event, target, database_command(event, target).run(runner))


def database_command(event: DatabaseEvent, target: Target) -> HostCommand:
    """The command for ``event``; refuses (InvalidInput) what must never reach the host."""
    is_live = event.database == target.database
    if event.action in ("create-scratch", "drop-scratch") and is_live:
        raise InvalidInput(f"database: {event.database!r} is the live database; scratch actions refuse it")
    if event.action == "recreate-live" and (not is_live or event.confirm != target.database):
        raise InvalidInput(f"confirm: recreating {event.database!r} needs confirm={target.database!r}")
    env = host_env(target) | {"ACTION": event.action, "TARGET_DB": event.database, "CONFIRM_DB": event.confirm}
    return HostCommand("database.sh", env, 300)


def read_database_action(event: DatabaseEvent, target: Target, result: CommandResult) -> str:
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: {event.action} {event.database} failed: {tail(result.stderr)}")
    return result.stdout.strip()
