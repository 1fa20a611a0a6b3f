"""One poll of a host job: its progress (and fresh part URLs for a dump), or, once it has exited, the result of
the step that started it, interpreted by that step's own code."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from freshtrack_ops import jobs
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, HostCommandTimeout
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.jobs import JobExited, JobLost, JobPollEvent, JobStarted, Mode
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.base import DataStep, HostStep, job_key
from freshtrack_ops.steps.catalog import DATA_STEPS


class PollContext(BaseModel):
    """Set when this poll handed the job fresh part URLs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls_minted_at: float | None = None


class JobPollStep(HostStep[JobPollEvent, PollContext, BaseModel]):
    name = "job-poll"
    scripts = ("job_poll.sh",)
    domain = "jobs"
    model = JobPollEvent
    context_model = PollContext

    def host(self, event: JobPollEvent) -> str:
        return event.job.host

    def prepare(self, event: JobPollEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, PollContext]:
        job = event.job
        wrapped, wrapped_event = _wrapped(job)
        fresh_url = wrapped.refresh(wrapped_event, target, job)
        context = PollContext(urls_minted_at=time.time() if fresh_url else None)
        return jobs.poll_command(target, job.job_id, fresh_url), context

    def finish(self, event: JobPollEvent, target: Target, context: PollContext, result: CommandResult) -> BaseModel:
        """The job again (still running), or the transfer's own result (it has exited)."""
        job = event.job
        wrapped, wrapped_event = _wrapped(job)
        status = jobs.read_poll(target, job.job_id, result)
        if isinstance(status, JobExited):
            wrapped_context = wrapped.context_model.model_validate_json(job.context)
            try:
                output: BaseModel = wrapped.interpret(wrapped_event, target, wrapped_context, status.result)
                return output
            except BaseException:
                wrapped.abandon(wrapped_event, target, wrapped_context)
                raise
        if isinstance(status, JobLost):
            wrapped.abandon(wrapped_event, target, wrapped.context_model.model_validate_json(job.context))
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
                "urls_minted_at": context.urls_minted_at or job.urls_minted_at,
            }
        )
        return JobStarted(job=updated)

    def resolved_keys(self, event: JobPollEvent, output: BaseModel) -> list[str]:
        return [] if isinstance(output, JobStarted) else [job_key(event.job.job_id)]

    def record_metrics(self, event: JobPollEvent, target: Target, output: BaseModel) -> None:
        if isinstance(output, JobStarted):
            metrics.add_dimension(name="host", value=target.id)
        else:  # the transfer's own figures (they add the host dimension)
            wrapped, wrapped_event = _wrapped(event.job)
            wrapped.record_metrics(wrapped_event, target, output)
        metrics.add_metric(name="HostJobPolls", unit=MetricUnit.Count, value=1)


def _wrapped(job: jobs.HostJob) -> tuple[DataStep[Any, Any, Any], BaseModel]:
    """The job's own step (its module is imported on the first poll of such a job) and the event it started with."""
    wrapped = DATA_STEPS.get(job.step)
    if wrapped is None:
        raise HostCommandFailed(f"host job {job.job_id}: unknown step {job.step!r}")
    return wrapped, wrapped.model.model_validate_json(job.event)


#: the one instance of each step (steps/catalog.py finds them by name)
JOB_POLL = JobPollStep()
