"""The host steps of test restores and restores: verify and load a backup, databases, counts, services, health."""

from __future__ import annotations

import time
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit

from freshtrack_ops import jobs, runtime
from freshtrack_ops.adapters.undo_log import UndoEntry
from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import DataContext, Mode
from freshtrack_ops.models import (
    CountsEvent,
    CountsResult,
    DatabaseActionResult,
    DatabaseEvent,
    HealthEvent,
    HealthResult,
    LoadEvent,
    LoadResult,
    ServicesEvent,
    ServicesResult,
    VerifyEvent,
    VerifyResult,
)
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.restore import checks, ssm_read
from freshtrack_ops.restore.database import database_command, read_database_action
from freshtrack_ops.restore.load import load_backup
from freshtrack_ops.restore.ssm_read import READ_TIMEOUT_S
from freshtrack_ops.restore.verify import load_manifest, verify_archive
from freshtrack_ops.steps.base import DataStep, HostStep, NoContext, OnEventHost, RunnerTarget


class LoadContext(DataContext):
    """When the load started (its duration is reported with the result)."""

    started_at: float


class VerifyStep(DataStep[VerifyEvent, DataContext, VerifyResult]):
    name = "verify"
    scripts = ("archive_list.sh", "ssm_archive_list.sh")
    domain = "restore.verify, restore.ssm_read"
    model = VerifyEvent
    context_model = DataContext

    def host(self, event: VerifyEvent) -> str:
        return event.backup.host

    def estimate_s(self, event: VerifyEvent, target: Target) -> float:
        size = load_manifest(event.backup, runtime.store()).size_bytes
        return jobs.estimate_s(size, target.restore.assumed_verify_mb_s)

    def ssm_budget_s(self) -> float:
        return READ_TIMEOUT_S

    def stream(self, event: VerifyEvent, target: RunnerTarget, runner: HostRunner) -> VerifyResult:
        return verify_archive(event.backup, target, runner, runtime.store())

    def command(self, event: VerifyEvent, target: Target) -> tuple[HostCommand, DataContext]:
        manifest = load_manifest(event.backup, runtime.store())
        return ssm_read.verify_command(target, manifest, _object_url(event.backup.dump_key)), DataContext()

    def interpret(
        self, event: VerifyEvent, target: Target, context: DataContext, result: CommandResult
    ) -> VerifyResult:
        manifest = load_manifest(event.backup, runtime.store())
        return ssm_read.read_verify(manifest, target, result)

    def record_transfer_metrics(self, output: VerifyResult) -> None:
        metrics.add_metric(name="BackupVerifiedBytes", unit=MetricUnit.Bytes, value=output.size_bytes)


class LoadStep(DataStep[LoadEvent, LoadContext, LoadResult]):
    name = "load"
    scripts = ("restore_stream.sh", "ssm_restore_stream.sh")
    domain = "restore.load, restore.ssm_read"
    model = LoadEvent
    context_model = LoadContext

    def host(self, event: LoadEvent) -> str:
        return event.host or event.backup.host

    def estimate_s(self, event: LoadEvent, target: Target) -> float:
        size = load_manifest(event.backup, runtime.store()).size_bytes
        return jobs.estimate_s(size, target.restore.assumed_load_mb_s)

    def ssm_budget_s(self) -> float:
        return READ_TIMEOUT_S

    def stream(self, event: LoadEvent, target: RunnerTarget, runner: HostRunner) -> LoadResult:
        return load_backup(event.backup, event.database, target, runner, runtime.store())

    def command(self, event: LoadEvent, target: Target) -> tuple[HostCommand, LoadContext]:
        manifest = load_manifest(event.backup, runtime.store())
        command = ssm_read.load_command(target, manifest, event.database, _object_url(event.backup.dump_key))
        return command, LoadContext(started_at=time.time())

    def interpret(self, event: LoadEvent, target: Target, context: LoadContext, result: CommandResult) -> LoadResult:
        manifest = load_manifest(event.backup, runtime.store())
        duration = round(time.time() - context.started_at, 3)
        return ssm_read.read_load(event, manifest, target, result, duration_s=duration)

    def record_transfer_metrics(self, output: LoadResult) -> None:
        metrics.add_metric(name="RestoreLoadSeconds", unit=MetricUnit.Seconds, value=output.duration_s)


class DatabaseStep(OnEventHost, HostStep[DatabaseEvent, NoContext, DatabaseActionResult]):
    name = "database"
    scripts = ("database.sh",)
    domain = "restore.database"
    model = DatabaseEvent
    context_model = NoContext

    def prepare(self, event: DatabaseEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return database_command(event, target), NoContext()

    def finish(
        self, event: DatabaseEvent, target: Target, context: NoContext, result: CommandResult
    ) -> DatabaseActionResult:
        return DatabaseActionResult(result=read_database_action(event, target, result))

    def undo_entry(self, event: DatabaseEvent, target: Target, context: NoContext) -> UndoEntry | None:
        """A scratch or incoming database is recorded before it is created: an execution that ends before its own
        DropScratch/DropIncoming (aborted, timed out) still gets it dropped. (drop-incoming drops only a database
        database.sh marked incoming: never one that was there before under that name.)

        Nothing else is ever recorded: above all not an aside database, the way back of a restore by swap, which
        only an explicit drop-aside removes. A swap-in resolves the incoming entry (the database is live now and
        its old name free); a swap-back records it again (the failed restore is renamed to the incoming name)."""
        undo = _UNDO_ACTIONS.get(event.action)
        if undo is None:
            return None
        undo_action, kind = undo
        drop = event.model_copy(update={"action": undo_action, "confirm": "", "aside": None})
        return UndoEntry(
            key=_undo_key(kind, event.database),
            kind="scratch",
            step=self.name,
            host=target.id,
            event=drop.model_dump_json(),
        )

    def resolved_keys(self, event: DatabaseEvent, output: DatabaseActionResult) -> list[str]:
        kind = _RESOLVED_BY.get(event.action)
        return [_undo_key(kind, event.database)] if kind is not None else []

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        return database_command(DatabaseEvent.model_validate_json(entry.event), target)


class CountsStep(HostStep[CountsEvent, NoContext, CountsResult]):
    name = "counts"
    scripts = ("row_counts.sh",)
    domain = "restore.checks"
    model = CountsEvent
    context_model = NoContext

    def host(self, event: CountsEvent) -> str:
        return event.host or event.backup.host

    def prepare(self, event: CountsEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return checks.counts_command(target, event.database), NoContext()

    def finish(self, event: CountsEvent, target: Target, context: NoContext, result: CommandResult) -> CountsResult:
        actual = checks.read_counts(target, event.database, result)
        return checks.compare_with_manifest(event.backup, event.database, actual, runtime.store())


class ServicesStep(OnEventHost, HostStep[ServicesEvent, NoContext, ServicesResult]):
    name = "services"
    scripts = ("services.sh",)
    domain = "restore.checks"
    model = ServicesEvent
    context_model = NoContext

    def prepare(self, event: ServicesEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return checks.services_command(target, event.action, event.services), NoContext()

    def finish(self, event: ServicesEvent, target: Target, context: NoContext, result: CommandResult) -> ServicesResult:
        command = checks.services_command(target, event.action, event.services)
        return checks.read_services(target, command, result)


class HealthStep(OnEventHost, HostStep[HealthEvent, NoContext, HealthResult]):
    name = "health"
    scripts = ("services.sh", "health.sh")
    domain = "restore.checks"
    model = HealthEvent
    context_model = NoContext

    def prepare(self, event: HealthEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return checks.health_command(target), NoContext()

    def finish(self, event: HealthEvent, target: Target, context: NoContext, result: CommandResult) -> HealthResult:
        return checks.read_health_result(target, checks.health_command(target), result)


#: what undoes an action that leaves a database of ours under TARGET_DB (recorded before it runs), and the kind
#: of that database: a scratch one, or an incoming one (created empty, or the failed restore a swap-back renames
#: to the incoming name)
_UNDO_ACTIONS: dict[str, tuple[Literal["drop-scratch", "drop-incoming"], str]] = {
    "create-scratch": ("drop-scratch", "scratch"),
    "create-incoming": ("drop-incoming", "incoming"),
    "swap-back": ("drop-incoming", "incoming"),
}
#: the actions after which TARGET_DB no longer holds that database: dropped, or (swap-in) renamed to the live
#: name — from then on it IS the live database, and no undo may touch its name's entry
_RESOLVED_BY: dict[str, str] = {
    "drop-scratch": "scratch",
    "drop-incoming": "incoming",
    "swap-in": "incoming",
}


def _undo_key(kind: str, database: str) -> str:
    """``scratch#<db>`` (the key scratch databases always had) or ``incoming#<db>``."""
    return f"{kind}#{database}"


def _object_url(key: str) -> str:
    """A presigned GET of a backup object; the host fetches it once, at the command's start."""
    return runtime.presigned_uploads().object_url(key, runtime.settings().presign_validity_s)


#: the one instance of each step (steps/catalog.py finds them by name)
VERIFY = VerifyStep()
LOAD = LoadStep()
DATABASE = DatabaseStep()
COUNTS = CountsStep()
SERVICES = ServicesStep()
HEALTH = HealthStep()
