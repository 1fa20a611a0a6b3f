"""The host steps of the backup, test-restore and restore workflows (one instance each, by name)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from freshtrack_ops import jobs, runtime
from freshtrack_ops.adapters import presign
from freshtrack_ops.adapters.undo_log import UndoEntry
from freshtrack_ops.backup.cleanup import delete_unmanifested_dump
from freshtrack_ops.backup.preflight import preflight_command, read_preflight
from freshtrack_ops.backup.ssm_dump import (
    FALLBACK_ESTIMATE_BYTES,
    SsmUpload,
    abandon_ssm_dump,
    finish_ssm_dump,
    refresh_ssm_dump,
    start_ssm_dump,
)
from freshtrack_ops.backup.stream import stream_dump
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, HostCommandTimeout
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.jobs import JobExited, JobLost, JobPollEvent, Mode
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
    VerifyResult,
)
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.restore import checks, ssm_read
from freshtrack_ops.restore.database import database_command, read_database_action
from freshtrack_ops.restore.load import load_backup
from freshtrack_ops.restore.ssm_read import READ_TIMEOUT_S
from freshtrack_ops.restore.verify import load_manifest, verify_archive
from freshtrack_ops.steps.base import JOB_KEY, Context, DataStep, HostStep, Output, job_key


class PreflightStep(HostStep[HostEvent]):
    name = "preflight"
    model = HostEvent

    def host(self, event: HostEvent) -> str:
        return event.plan.host

    def prepare(self, event: HostEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        return preflight_command(target), {}

    def finish(self, event: HostEvent, target: Target, context: Context, result: CommandResult) -> Output:
        report = read_preflight(target, result)
        rate = dump_rate(event.plan.dump_rate_mb_s, target)
        estimate = round(jobs.estimate_s(report.database_size_bytes, rate), 1)
        return report.model_copy(update={"estimated_dump_s": estimate}).model_dump(mode="json")


class DumpStep(DataStep[DumpEvent]):
    name = "dump"
    model = DumpEvent

    def host(self, event: DumpEvent) -> str:
        return event.plan.host

    def estimate_s(self, event: DumpEvent, target: Target) -> float:
        """Preflight's estimate (the database size at the host's measured rate); the target's assumed rate
        over a fallback size when preflight reported none."""
        if event.preflight is not None and event.preflight.estimated_dump_s is not None:
            return event.preflight.estimated_dump_s
        size = event.preflight.database_size_bytes if event.preflight else FALLBACK_ESTIMATE_BYTES
        return jobs.estimate_s(size, dump_rate(event.plan.dump_rate_mb_s, target))

    def ssm_budget_s(self) -> float:
        # one SSM command gets its part URLs once: it must end while they are valid
        return float(runtime.settings().presign_validity_s)

    def stream(self, event: DumpEvent, target: Target, runner: HostRunner) -> Output:
        part_size = runtime.settings().part_size_mb * 1024 * 1024
        result = stream_dump(event.plan, target, runner, runtime.store(), part_size=part_size)
        return result.model_dump(mode="json")

    def command(self, event: DumpEvent, target: Target, mode: Mode) -> tuple[HostCommand, dict[str, Any]]:
        estimated = event.preflight.database_size_bytes if event.preflight else None
        command, upload = start_ssm_dump(
            event.plan,
            target,
            s3=runtime.presigner(),
            bucket=runtime.settings().backup_bucket,
            estimated_bytes=estimated,
            expires_s=runtime.settings().presign_validity_s,
            part_size=runtime.settings().part_size_mb * 1024 * 1024,
        )
        return command, upload.model_dump()

    def interpret(self, event: DumpEvent, target: Target, context: Context, result: CommandResult) -> Output:
        upload = SsmUpload.model_validate(context)
        dump = finish_ssm_dump(
            event.plan, target, upload, result, s3=runtime.client("s3"), bucket=runtime.settings().backup_bucket
        )
        return dump.model_dump(mode="json")

    def refresh(self, event: DumpEvent, target: Target, job: jobs.HostJob, parts_done: int, needs_from: int) -> str:
        """Fresh URLs when the job asks for them (a URL was refused or missing) or the last ones are half
        way through their validity; from the first part not uploaded yet up to the planned count."""
        validity = runtime.settings().presign_validity_s
        now = time.time()
        if not needs_from and now - job.urls_minted_at < validity / 2:
            return ""
        upload = SsmUpload.model_validate(job.context)
        first = needs_from or parts_done + 1
        return refresh_ssm_dump(
            event.plan,
            upload,
            s3=runtime.presigner(),
            bucket=runtime.settings().backup_bucket,
            first_part=first,
            expires_s=validity,
            now=now,
        )

    def abandon(self, event: DumpEvent, target: Target, context: Context) -> None:
        upload = SsmUpload.model_validate({key: value for key, value in context.items() if key != JOB_KEY})
        abandon_ssm_dump(event.plan, upload, s3=runtime.client("s3"), bucket=runtime.settings().backup_bucket)
        # the upload may have been completed before nobody waited any more
        self.discard(event, target, {})

    def discard(self, event: DumpEvent, target: Target, output: Output) -> None:
        """A dump nobody waits for any more never gets a manifest: delete it (the cleanup path's rule)."""
        with contextlib.suppress(Exception):
            delete_unmanifested_dump(event.plan, runtime.store())

    def record_metrics(self, event: DumpEvent, target: Target, output: Output) -> None:
        if _job_started(self.name, target, output):
            return
        dump = DumpResult.model_validate(output)
        metrics.add_dimension(name="host", value=target.id)
        metrics.add_metric(name="BackupSizeBytes", unit=MetricUnit.Bytes, value=dump.size_bytes)
        metrics.add_metric(name="BackupDumpSeconds", unit=MetricUnit.Seconds, value=dump.duration_s)


class VerifyStep(DataStep[VerifyEvent]):
    name = "verify"
    model = VerifyEvent

    def host(self, event: VerifyEvent) -> str:
        return event.backup.host

    def estimate_s(self, event: VerifyEvent, target: Target) -> float:
        size = load_manifest(event.backup, runtime.store()).size_bytes
        return jobs.estimate_s(size, target.restore.assumed_verify_mb_s)

    def ssm_budget_s(self) -> float:
        return READ_TIMEOUT_S

    def stream(self, event: VerifyEvent, target: Target, runner: HostRunner) -> Output:
        return verify_archive(event.backup, target, runner, runtime.store()).model_dump(mode="json")

    def command(self, event: VerifyEvent, target: Target, mode: Mode) -> tuple[HostCommand, dict[str, Any]]:
        return ssm_read.verify_command(target, _object_url(event.backup.dump_key)), {}

    def interpret(self, event: VerifyEvent, target: Target, context: Context, result: CommandResult) -> Output:
        manifest = load_manifest(event.backup, runtime.store())
        return ssm_read.read_verify(manifest, target, result).model_dump(mode="json")

    def record_metrics(self, event: VerifyEvent, target: Target, output: Output) -> None:
        if _job_started(self.name, target, output):
            return
        verified = VerifyResult.model_validate(output)
        metrics.add_dimension(name="host", value=target.id)
        metrics.add_metric(name="BackupVerifiedBytes", unit=MetricUnit.Bytes, value=verified.size_bytes)


class LoadStep(DataStep[LoadEvent]):
    name = "load"
    model = LoadEvent

    def host(self, event: LoadEvent) -> str:
        return event.backup.host

    def estimate_s(self, event: LoadEvent, target: Target) -> float:
        size = load_manifest(event.backup, runtime.store()).size_bytes
        return jobs.estimate_s(size, target.restore.assumed_load_mb_s)

    def ssm_budget_s(self) -> float:
        return READ_TIMEOUT_S

    def stream(self, event: LoadEvent, target: Target, runner: HostRunner) -> Output:
        return load_backup(event.backup, event.database, target, runner, runtime.store()).model_dump(mode="json")

    def command(self, event: LoadEvent, target: Target, mode: Mode) -> tuple[HostCommand, dict[str, Any]]:
        command = ssm_read.load_command(target, event.database, _object_url(event.backup.dump_key))
        return command, {"started_at": time.time()}

    def interpret(self, event: LoadEvent, target: Target, context: Context, result: CommandResult) -> Output:
        manifest = load_manifest(event.backup, runtime.store())
        duration = round(time.time() - float(context["started_at"]), 3)
        loaded = ssm_read.read_load(event, manifest, target, result, duration_s=duration)
        return loaded.model_dump(mode="json")

    def record_metrics(self, event: LoadEvent, target: Target, output: Output) -> None:
        if _job_started(self.name, target, output):
            return
        loaded = LoadResult.model_validate(output)
        metrics.add_dimension(name="host", value=target.id)
        metrics.add_metric(name="RestoreLoadSeconds", unit=MetricUnit.Seconds, value=loaded.duration_s)


class DatabaseStep(HostStep[DatabaseEvent]):
    name = "database"
    model = DatabaseEvent

    def host(self, event: DatabaseEvent) -> str:
        return event.host

    def prepare(self, event: DatabaseEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        return database_command(event, target), {}

    def finish(self, event: DatabaseEvent, target: Target, context: Context, result: CommandResult) -> Output:
        return {"result": read_database_action(event, target, result)}

    def undo_entry(self, event: DatabaseEvent, target: Target, context: Context) -> UndoEntry | None:
        """A scratch database is recorded before it is created: an execution that ends before its own
        DropScratch (aborted, timed out) still gets it dropped."""
        if event.action != "create-scratch":
            return None
        drop = event.model_copy(update={"action": "drop-scratch"})
        return UndoEntry(
            key=_scratch_key(event.database),
            kind="scratch",
            step=self.name,
            host=target.id,
            event=drop.model_dump_json(),
        )

    def resolved_keys(self, event: DatabaseEvent, output: Output) -> list[str]:
        return [_scratch_key(event.database)] if event.action == "drop-scratch" else []

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        return database_command(DatabaseEvent.model_validate_json(entry.event), target)


class CountsStep(HostStep[CountsEvent]):
    name = "counts"
    model = CountsEvent

    def host(self, event: CountsEvent) -> str:
        return event.backup.host

    def prepare(self, event: CountsEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
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

    def prepare(self, event: ServicesEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        return checks.services_command(target, event.action, event.services), {}

    def finish(self, event: ServicesEvent, target: Target, context: Context, result: CommandResult) -> Output:
        command = checks.services_command(target, event.action, event.services)
        return checks.read_services(target, command, result).model_dump(mode="json")


class HealthStep(HostStep[HealthEvent]):
    name = "health"
    model = HealthEvent

    def host(self, event: HealthEvent) -> str:
        return event.host

    def prepare(self, event: HealthEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        return checks.health_command(target), {}

    def finish(self, event: HealthEvent, target: Target, context: Context, result: CommandResult) -> Output:
        return checks.read_health_result(target, checks.health_command(target), result).model_dump(mode="json")


class JobPollStep(HostStep[JobPollEvent]):
    """One poll of a host job: its progress (and fresh part URLs for a dump), or, once it has exited, the
    output of the step that started it, interpreted by that step's own code."""

    name = "job-poll"
    model = JobPollEvent

    def host(self, event: JobPollEvent) -> str:
        return event.job.host

    def prepare(self, event: JobPollEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        job = event.job
        wrapped, wrapped_event = _wrapped(job)
        fresh_url = wrapped.refresh(wrapped_event, target, job, job.parts_done, job.needs_urls_from)
        context = {"urls_minted_at": time.time()} if fresh_url else {}
        return jobs.poll_command(target, job.job_id, fresh_url), context

    def finish(self, event: JobPollEvent, target: Target, context: Context, result: CommandResult) -> Output:
        job = event.job
        wrapped, wrapped_event = _wrapped(job)
        status = jobs.read_poll(target, job.job_id, result)
        if isinstance(status, JobExited):
            try:
                return wrapped.interpret(wrapped_event, target, job.context, status.result)
            except BaseException:
                wrapped.abandon(wrapped_event, target, job.context)
                raise
        if isinstance(status, JobLost):
            wrapped.abandon(wrapped_event, target, job.context)
            raise HostCommandFailed(f"{target.id}: host job {job.job_id} ({job.step}) was lost: {tail(status.stderr)}")
        now = time.time()
        if now > job.deadline_at:
            # the failure path's StopHostWork stops the job and undoes what it started
            raise HostCommandTimeout(
                f"{target.id}: host job {job.job_id} ({job.step}) still running after "
                f"{target.max_transfer_hours} h (max_transfer_hours)"
            )
        updated = job.model_copy(
            update={
                "polls": job.polls + 1,
                "parts_done": status.parts_done,
                "needs_urls_from": status.needs_urls_from,
                "poll_s": jobs.MIN_POLL_S if status.needs_urls_from else jobs.next_poll_s(now - job.started_at),
                "urls_minted_at": float(context.get("urls_minted_at", job.urls_minted_at)),
            }
        )
        return {JOB_KEY: updated.model_dump(mode="json")}

    def resolved_keys(self, event: JobPollEvent, output: Output) -> list[str]:
        return [] if JOB_KEY in output else [job_key(event.job.job_id)]

    def record_metrics(self, event: JobPollEvent, target: Target, output: Output) -> None:
        if JOB_KEY in output:
            metrics.add_dimension(name="host", value=target.id)
        else:  # the transfer's own figures (they add the host dimension)
            wrapped, wrapped_event = _wrapped(event.job)
            wrapped.record_metrics(wrapped_event, target, output)
        metrics.add_metric(name="HostJobPolls", unit=MetricUnit.Count, value=1)


def _job_started(step: str, target: Target, output: Output) -> bool:
    """Count a transfer that started as a host job (its figures come with its last poll); False otherwise."""
    if JOB_KEY not in output:
        return False
    metrics.add_dimension(name="host", value=target.id)
    metrics.add_metric(name="HostJobsStarted", unit=MetricUnit.Count, value=1)
    return True


def dump_rate(measured_mb_s: float | None, target: Target) -> float:
    """The slower of the host's measured dump rate and the target's assumed one: a pessimistic estimate only
    costs a few polls (the transfer runs as a job), an optimistic one a transfer cut off at the timeout."""
    assumed = target.backup.assumed_dump_mb_s
    return min(measured_mb_s, assumed) if measured_mb_s else assumed


def _wrapped(job: jobs.HostJob) -> tuple[DataStep[Any], BaseModel]:
    wrapped = DATA_STEPS.get(job.step)
    if wrapped is None:
        raise HostCommandFailed(f"host job {job.job_id}: unknown step {job.step!r}")
    return wrapped, wrapped.model.model_validate_json(job.event)


def _scratch_key(database: str) -> str:
    return f"scratch#{database}"


def _object_url(key: str) -> str:
    """A presigned GET of a backup object; the host fetches it once, at the command's start."""
    return presign.object_url(runtime.presigner(), runtime.settings().backup_bucket, key, _validity())


def _validity() -> int:
    return runtime.settings().presign_validity_s


PREFLIGHT = PreflightStep()
DUMP = DumpStep()
JOB_POLL = JobPollStep()
VERIFY = VerifyStep()
LOAD = LoadStep()
DATABASE = DatabaseStep()
COUNTS = CountsStep()
SERVICES = ServicesStep()
HEALTH = HealthStep()

DATA_STEPS: dict[str, DataStep[Any]] = {step.name: step for step in (DUMP, VERIFY, LOAD)}
STEPS: dict[str, HostStep[Any]] = {
    step.name: step for step in (PREFLIGHT, DUMP, VERIFY, LOAD, DATABASE, COUNTS, SERVICES, HEALTH, JOB_POLL)
}
