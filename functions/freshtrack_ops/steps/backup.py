"""The backup's host steps: preflight and the dump."""

from __future__ import annotations

import contextlib
import time

from aws_lambda_powertools.metrics import MetricUnit

from freshtrack_ops import jobs, runtime
from freshtrack_ops.backup.cleanup import delete_unmanifested_dump
from freshtrack_ops.backup.compression import resolve
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
from freshtrack_ops.config import StoredCompression, Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import JobStarted, Mode
from freshtrack_ops.models import DumpEvent, DumpResult, HostEvent, PreflightReport
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.steps.base import DataStep, HostStep, NoContext, RunnerTarget


class PreflightStep(HostStep[HostEvent, NoContext, PreflightReport]):
    name = "preflight"
    scripts = ("preflight.sh",)
    domain = "backup.preflight"
    model = HostEvent
    context_model = NoContext

    def host(self, event: HostEvent) -> str:
        return event.plan.host

    def prepare(self, event: HostEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, NoContext]:
        return preflight_command(target), NoContext()

    def finish(self, event: HostEvent, target: Target, context: NoContext, result: CommandResult) -> PreflightReport:
        """The report, with how long the dump should take: the database size at the host's rate."""
        report = read_preflight(target, result)
        rate = dump_rate(event.plan.dump_rate_mb_s, target)
        estimate = round(jobs.estimate_s(report.database_size_bytes, rate), 1)
        return report.model_copy(update={"estimated_dump_s": estimate})


class DumpStep(DataStep[DumpEvent, SsmUpload, DumpResult]):
    name = "dump"
    scripts = ("backup_dump.sh", "ssm_backup_upload.sh")
    domain = "backup.stream, backup.ssm_dump"
    model = DumpEvent
    context_model = SsmUpload

    def part_bytes(self) -> int:
        return runtime.settings().part_size_mb * 1024 * 1024

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

    def stream(self, event: DumpEvent, target: RunnerTarget, runner: HostRunner) -> DumpResult:
        part_size = runtime.settings().part_size_mb * 1024 * 1024
        stored = _stored(event, target)
        return stream_dump(event.plan, target, runner, runtime.store(), part_size=part_size, compression=stored)

    def command(self, event: DumpEvent, target: Target) -> tuple[HostCommand, SsmUpload]:
        estimated = event.preflight.database_size_bytes if event.preflight else None
        return start_ssm_dump(
            event.plan,
            target,
            uploads=runtime.presigned_uploads(),
            estimated_bytes=estimated,
            expires_s=runtime.settings().presign_validity_s,
            part_size=runtime.settings().part_size_mb * 1024 * 1024,
            compression=_stored(event, target),
        )

    def interpret(self, event: DumpEvent, target: Target, context: SsmUpload, result: CommandResult) -> DumpResult:
        return finish_ssm_dump(event.plan, target, context, result, uploads=runtime.presigned_uploads())

    def refresh(self, event: DumpEvent, target: Target, job: jobs.HostJob) -> str:
        """Fresh URLs when the job asks for them (a URL was refused or missing) or the last ones are half
        way through their validity; from the first part not uploaded yet up to the planned count."""
        validity = runtime.settings().presign_validity_s
        now = time.time()
        if not job.needs_urls_from and now - job.urls_minted_at < validity / 2:
            return ""
        return refresh_ssm_dump(
            event.plan,
            SsmUpload.model_validate_json(job.context),
            uploads=runtime.presigned_uploads(),
            first_part=job.needs_urls_from or job.parts_done + 1,
            expires_s=validity,
            now=now,
        )

    def abandon(self, event: DumpEvent, target: Target, context: SsmUpload) -> None:
        abandon_ssm_dump(event.plan, context, uploads=runtime.presigned_uploads())
        # the upload may have been completed before nobody waited any more
        self._delete_unmanifested(event)

    def discard(self, event: DumpEvent, target: Target, output: DumpResult | JobStarted) -> None:
        """A dump nobody waits for any more never gets a manifest: delete it (the cleanup path's rule)."""
        self._delete_unmanifested(event)

    @staticmethod
    def _delete_unmanifested(event: DumpEvent) -> None:
        with contextlib.suppress(Exception):
            delete_unmanifested_dump(event.plan, runtime.store())

    def record_transfer_metrics(self, output: DumpResult) -> None:
        metrics.add_metric(name="BackupSizeBytes", unit=MetricUnit.Bytes, value=output.size_bytes)
        metrics.add_metric(name="BackupDumpSeconds", unit=MetricUnit.Seconds, value=output.duration_s)


def dump_rate(measured_mb_s: float | None, target: Target) -> float:
    """The slower of the host's measured dump rate and the target's assumed one: a pessimistic estimate only
    costs a few polls (the transfer runs as a job), an optimistic one a transfer cut off at the timeout."""
    assumed = target.backup.assumed_dump_mb_s
    return min(measured_mb_s, assumed) if measured_mb_s else assumed


def _stored(event: DumpEvent, target: Target) -> StoredCompression:
    """The compression the dump writes: what the preflight chose for this host. The one fallback, for a report
    without it (an execution started before preflights reported one): the target's setting resolved without the
    host's codecs, so ``auto`` is ``gzip-default``, which every pg_dump writes."""
    if event.preflight is not None and event.preflight.compression is not None:
        return event.preflight.compression
    return resolve(target.backup.compression, [])


#: the one instance of each step (steps/catalog.py finds them by name)
PREFLIGHT = PreflightStep()
DUMP = DumpStep()
