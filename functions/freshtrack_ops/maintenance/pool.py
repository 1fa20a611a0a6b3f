"""The db-pool host side: the command of db_pool.sh and what its output says."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.errors import InvalidInput, MaintenanceFailed, MaintenanceRefused
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.maintenance.host_models import PoolEvent, PoolResult
from freshtrack_ops.maintenance.host_output import parse_output
from freshtrack_ops.ports import CommandResult

#: db_pool.sh's exits: a refused parameter, no .env.production
EXIT_REFUSED = 64
EXIT_NO_ENV_FILE = 66
#: a recreate of the backend: well inside the task's 300 s
POOL_TIMEOUT_S = 240.0


def pool_command(target: Target, event: PoolEvent) -> HostCommand:
    """The range is the validator's (a revert puts back whatever value was there before: it is not checked again)."""
    if event.action == "set" and event.size is None:
        raise InvalidInput("size: set needs the new DB_POOL_SIZE (got None)")
    size = "read" if event.action == "read" else ("" if event.size is None else str(event.size))
    env = {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "POOL_SIZE": size,
        "SERVICES": " ".join(target.maintenance.db_pool_services),
    }
    return HostCommand("db_pool.sh", env, POOL_TIMEOUT_S)


def read_pool(target: Target, result: CommandResult) -> PoolResult:
    output = parse_output(result.stdout)
    if result.exit_code == EXIT_REFUSED:
        raise InvalidInput(f"{target.id}: db_pool.sh refused its parameters: {tail(result.stderr)}")
    if result.exit_code == EXIT_NO_ENV_FILE:
        raise MaintenanceRefused(f"{target.id}: no {target.app_dir}/.env.production: nothing changed")
    if result.exit_code != 0:
        ran = output.many("ran")
        doing = f" at `{ran[-1]}`" if ran else ""
        raise MaintenanceFailed(
            f"{target.id}: db_pool.sh failed{doing} (exit {result.exit_code}): {tail(result.stderr)}"
        )
    previous, size = output.values.get("previous", ""), output.values.get("size", "")
    return PoolResult(
        previous=int(previous) if previous.isdigit() else None,
        size=int(size) if size.isdigit() else (None if "size" in output.values else _int(previous)),
        commands=output.many("ran"),
        after=output.after,
    )


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None
