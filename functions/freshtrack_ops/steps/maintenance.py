"""The host steps of the db-pool and rotate-secrets workflows, every transport through the base classes."""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.maintenance.host_models import PoolEvent, PoolResult, RotationEvent, RotationResult
from freshtrack_ops.maintenance.pool import pool_command, read_pool
from freshtrack_ops.maintenance.rotation import read_rotation, rotation_command
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.base import HostStep, NoContext, OnEventHost


class PoolStep(OnEventHost, HostStep[PoolEvent, NoContext, PoolResult]):
    """Set DB_POOL_SIZE and recreate the backend; the revert is the same step with the previous value."""

    name = "db-pool"
    scripts = ("db_pool.sh",)
    domain = "maintenance.pool"
    model = PoolEvent
    context_model = NoContext

    def prepare(self, event: PoolEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return pool_command(target, event), NoContext()

    def finish(self, event: PoolEvent, target: Target, context: NoContext, result: CommandResult) -> PoolResult:
        return read_pool(target, result)


class RotationStep(OnEventHost, HostStep[RotationEvent, NoContext, RotationResult]):
    """Rotate, revert or commit the database password and JWT secret (rotate_secrets.sh)."""

    name = "rotate-secrets"
    scripts = ("rotate_secrets.sh",)
    domain = "maintenance.rotation"
    model = RotationEvent
    context_model = NoContext

    def prepare(self, event: RotationEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return rotation_command(target, event), NoContext()

    def finish(self, event: RotationEvent, target: Target, context: NoContext, result: CommandResult) -> RotationResult:
        return read_rotation(target, event, result)


#: the one instance of each step (steps/catalog.py finds them by name)
DB_POOL = PoolStep()
ROTATE_SECRETS = RotationStep()
