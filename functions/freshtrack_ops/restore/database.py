"""Create, drop and recreate databases on the host — with the live database guarded twice."""

from __future__ import annotations

from freshtrack_ops.backup.host_env import host_env
from freshtrack_ops.backup.preflight import tail
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, InvalidInput
from freshtrack_ops.models import DatabaseEvent
from freshtrack_ops.ports import HostRunner


def database_action(event: DatabaseEvent, target: Target, runner: HostRunner) -> str:
    is_live = event.database == target.database
    if event.action in ("create-scratch", "drop-scratch") and is_live:
        raise InvalidInput(f"database: {event.database!r} is the live database; scratch actions refuse it")
    if event.action == "recreate-live" and (not is_live or event.confirm != target.database):
        raise InvalidInput(f"confirm: recreating {event.database!r} needs confirm={target.database!r}")
    env = host_env(target) | {"ACTION": event.action, "TARGET_DB": event.database, "CONFIRM_DB": event.confirm}
    result = runner.run("database.sh", env, timeout_s=300)
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: {event.action} {event.database} failed: {tail(result.stderr)}")
    return result.stdout.strip()
