"""The rotate-secrets host side: the command of rotate_secrets.sh and what its output says (names, never values:
the script prints none)."""

from __future__ import annotations

from typing import Literal, cast

from freshtrack_ops.config import Target
from freshtrack_ops.errors import InvalidInput, MaintenanceFailed, MaintenanceRefused, RotationPending
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.maintenance.host_models import RotationEvent, RotationResult
from freshtrack_ops.maintenance.host_output import parse_output
from freshtrack_ops.ports import CommandResult

EXIT_REFUSED = 64
EXIT_NOT_GENERATED = 65
EXIT_MISSING_FILE = 66
EXIT_PENDING = 67
EXIT_NOTHING_TO_REVERT = 68
#: compose down and up of every service: inside the task's 600 s
ROTATION_TIMEOUT_S = 540.0


def rotation_command(target: Target, event: RotationEvent) -> HostCommand:
    env = {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "PG_SERVICE": target.postgres_service,
        "DB_ROLE": target.db_role,
        "ROTATION": event.rotation,
        "SERVICES": " ".join(target.compose_services),
    }
    return HostCommand("rotate_secrets.sh", env, ROTATION_TIMEOUT_S)


def _failure(target: Target, event: RotationEvent, result: CommandResult, ran: list[str]) -> Exception:
    code, why = result.exit_code, tail(result.stderr)
    if code == EXIT_REFUSED:
        return InvalidInput(f"{target.id}: rotate_secrets.sh refused its parameters: {why}")
    if code == EXIT_PENDING:
        return RotationPending(f"{target.id}: {why}")
    if code == EXIT_MISSING_FILE:
        return MaintenanceRefused(f"{target.id}: a file to rotate is missing, nothing changed: {why}")
    doing = f" at `{ran[-1]}`" if ran else ""
    return MaintenanceFailed(f"{target.id}: rotate_secrets.sh {event.rotation} failed{doing} (exit {code}): {why}")


def read_rotation(target: Target, event: RotationEvent, result: CommandResult) -> RotationResult:
    output = parse_output(result.stdout)
    if result.exit_code != 0:
        raise _failure(target, event, result, output.many("ran"))
    rotated = [name for name in output.many("rotated") if name in ("postgres_password", "jwt_secret")]
    return RotationResult(
        rotation=event.rotation,
        rotated=cast(list[Literal["postgres_password", "jwt_secret"]], rotated),
        env_updated=output.many("env_updated"),
        commands=output.many("ran"),
        after=output.after,
    )
