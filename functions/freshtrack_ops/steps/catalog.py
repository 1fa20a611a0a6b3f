"""The host steps of the backup, test-restore and restore workflows (one instance each, by name)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from freshtrack_ops import runtime
from freshtrack_ops.backup import presign
from freshtrack_ops.backup.cleanup import delete_unmanifested_dump
from freshtrack_ops.backup.preflight import preflight_command, read_preflight
from freshtrack_ops.backup.ssm_dump import SsmUpload, abandon_ssm_dump, finish_ssm_dump, start_ssm_dump
from freshtrack_ops.backup.stream import stream_dump
from freshtrack_ops.config import Target
from freshtrack_ops.handlers._common import metrics
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.models import (
    CountsEvent,
    DatabaseEvent,
    DumpEvent,
    DumpResult,
    HealthEvent,
    HostEvent,
    LoadEvent,
    LoadResult,
    ServicesEvent,
    VerifyEvent,
)
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.restore import checks, ssm_read
from freshtrack_ops.restore.database import database_command, read_database_action
from freshtrack_ops.restore.load import load_backup
from freshtrack_ops.restore.verify import load_manifest, verify_archive
from freshtrack_ops.steps.base import Context, HostStep, Output


class PreflightStep(HostStep[HostEvent]):
    name = "preflight"
    model = HostEvent

    def host(self, event: HostEvent) -> str:
        return event.plan.host

    def prepare(self, event: HostEvent, target: Target) -> tuple[HostCommand, Context]:
        return preflight_command(target), {}

    def finish(self, event: HostEvent, target: Target, context: Context, result: CommandResult) -> Output:
        return read_preflight(target, result).model_dump(mode="json")


class DumpStep(HostStep[DumpEvent]):
    name = "dump"
    model = DumpEvent

    def host(self, event: DumpEvent) -> str:
        return event.plan.host

    def run(self, event: DumpEvent, target: Target, runner: HostRunner) -> Output:
        part_size = runtime.settings().part_size_mb * 1024 * 1024
        result = stream_dump(event.plan, target, runner, runtime.store(), part_size=part_size)
        return result.model_dump(mode="json")

    def prepare(self, event: DumpEvent, target: Target) -> tuple[HostCommand, Context]:
        estimated = event.preflight.database_size_bytes if event.preflight else None
        command, upload = start_ssm_dump(
            event.plan,
            target,
            s3=runtime.presigner(),
            bucket=runtime.settings().backup_bucket,
            estimated_bytes=estimated,
            part_size=runtime.settings().part_size_mb * 1024 * 1024,
        )
        return command, upload.model_dump()

    def finish(self, event: DumpEvent, target: Target, context: Context, result: CommandResult) -> Output:
        upload = SsmUpload.model_validate(context)
        dump = finish_ssm_dump(
            event.plan, target, upload, result, s3=runtime.client("s3"), bucket=runtime.settings().backup_bucket
        )
        return dump.model_dump(mode="json")

    def abandon(self, event: DumpEvent, target: Target, context: Context) -> None:
        upload = SsmUpload.model_validate(context)
        abandon_ssm_dump(event.plan, upload, s3=runtime.client("s3"), bucket=runtime.settings().backup_bucket)
        # the upload may have been completed before nobody waited any more
        self.discard(event, target, {})

    def discard(self, event: DumpEvent, target: Target, output: Output) -> None:
        """A dump nobody waits for any more never gets a manifest: delete it (the cleanup path's rule)."""
        with contextlib.suppress(Exception):
            delete_unmanifested_dump(event.plan, runtime.store())

    def record_metrics(self, target: Target, output: Output) -> None:
        dump = DumpResult.model_validate(output)
        metrics.add_dimension(name="host", value=target.id)
        metrics.add_metric(name="BackupSizeBytes", unit=MetricUnit.Bytes, value=dump.size_bytes)
        metrics.add_metric(name="BackupDumpSeconds", unit=MetricUnit.Seconds, value=dump.duration_s)


class VerifyStep(HostStep[VerifyEvent]):
    name = "verify"
    model = VerifyEvent

    def host(self, event: VerifyEvent) -> str:
        return event.backup.host

    def run(self, event: VerifyEvent, target: Target, runner: HostRunner) -> Output:
        return verify_archive(event.backup, target, runner, runtime.store()).model_dump(mode="json")

    def prepare(self, event: VerifyEvent, target: Target) -> tuple[HostCommand, Context]:
        return ssm_read.verify_command(target, _object_url(event.backup.dump_key)), {}

    def finish(self, event: VerifyEvent, target: Target, context: Context, result: CommandResult) -> Output:
        manifest = load_manifest(event.backup, runtime.store())
        return ssm_read.read_verify(manifest, target, result).model_dump(mode="json")


class LoadStep(HostStep[LoadEvent]):
    name = "load"
    model = LoadEvent

    def host(self, event: LoadEvent) -> str:
        return event.backup.host

    def run(self, event: LoadEvent, target: Target, runner: HostRunner) -> Output:
        return load_backup(event.backup, event.database, target, runner, runtime.store()).model_dump(mode="json")

    def prepare(self, event: LoadEvent, target: Target) -> tuple[HostCommand, Context]:
        command = ssm_read.load_command(target, event.database, _object_url(event.backup.dump_key))
        return command, {"started_at": time.time()}

    def finish(self, event: LoadEvent, target: Target, context: Context, result: CommandResult) -> Output:
        manifest = load_manifest(event.backup, runtime.store())
        duration = round(time.time() - float(context["started_at"]), 3)
        loaded = ssm_read.read_load(event, manifest, target, result, duration_s=duration)
        return loaded.model_dump(mode="json")

    def record_metrics(self, target: Target, output: Output) -> None:
        loaded = LoadResult.model_validate(output)
        metrics.add_dimension(name="host", value=target.id)
        metrics.add_metric(name="RestoreLoadSeconds", unit=MetricUnit.Seconds, value=loaded.duration_s)


class DatabaseStep(HostStep[DatabaseEvent]):
    name = "database"
    model = DatabaseEvent

    def host(self, event: DatabaseEvent) -> str:
        return event.host

    def prepare(self, event: DatabaseEvent, target: Target) -> tuple[HostCommand, Context]:
        return database_command(event, target), {}

    def finish(self, event: DatabaseEvent, target: Target, context: Context, result: CommandResult) -> Output:
        return {"result": read_database_action(event, target, result)}


class CountsStep(HostStep[CountsEvent]):
    name = "counts"
    model = CountsEvent

    def host(self, event: CountsEvent) -> str:
        return event.backup.host

    def prepare(self, event: CountsEvent, target: Target) -> tuple[HostCommand, Context]:
        return checks.counts_command(target, event.database), {}

    def finish(self, event: CountsEvent, target: Target, context: Context, result: CommandResult) -> Output:
        actual = checks.read_counts(target, event.database, result)
        compared = checks.compare_with_manifest(event.backup, event.database, actual, runtime.store())
        return compared.model_dump(mode="json")


class ServicesStep(HostStep[ServicesEvent]):
    name = "services"
    model = ServicesEvent

    def host(self, event: ServicesEvent) -> str:
        return event.host

    def prepare(self, event: ServicesEvent, target: Target) -> tuple[HostCommand, Context]:
        return checks.services_command(target, event.action, event.services), {}

    def finish(self, event: ServicesEvent, target: Target, context: Context, result: CommandResult) -> Output:
        command = checks.services_command(target, event.action, event.services)
        return checks.read_services(target, command, result).model_dump(mode="json")


class HealthStep(HostStep[HealthEvent]):
    name = "health"
    model = HealthEvent

    def host(self, event: HealthEvent) -> str:
        return event.host

    def prepare(self, event: HealthEvent, target: Target) -> tuple[HostCommand, Context]:
        return checks.health_command(target), {}

    def finish(self, event: HealthEvent, target: Target, context: Context, result: CommandResult) -> Output:
        return checks.read_health_result(target, checks.health_command(target), result).model_dump(mode="json")


def _object_url(key: str) -> str:
    """A presigned GET of a backup object; the host fetches it once, at the command's start."""
    return presign.object_url(runtime.presigner(), runtime.settings().backup_bucket, key)


PREFLIGHT = PreflightStep()
DUMP = DumpStep()
VERIFY = VerifyStep()
LOAD = LoadStep()
DATABASE = DatabaseStep()
COUNTS = CountsStep()
SERVICES = ServicesStep()
HEALTH = HealthStep()

STEPS: dict[str, HostStep[Any]] = {
    step.name: step for step in (PREFLIGHT, DUMP, VERIFY, LOAD, DATABASE, COUNTS, SERVICES, HEALTH)
}
