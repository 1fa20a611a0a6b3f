"""A host step is one workflow task that runs a host script, written once for every transport.

* SSH and local targets: ``run`` executes the command with a ``HostRunner`` and returns the output at once.
* SSM targets: ``prepare`` gives the command (and a JSON context for later), the handler sends it and keeps
  the task token; when EventBridge reports the command's end, ``finish`` interprets its result with the same
  code, and ``abandon`` undoes what ``prepare`` started when the command failed.

The default ``run`` is ``finish(prepare(...) run over the runner)``: one interpretation for both transports.

Data steps (dump, verify, load; ``DataStep``) move a whole backup. Each transfer runs ``inline`` (SSH: streamed
through the Lambda; SSM: one command) when it is expected to fit its budget, or as a detached host ``job``
(``freshtrack_ops.jobs``) that the state machine polls: then ``finish`` of the start returns ``{"job": ...}``
and the poll step hands the job's final output to ``interpret`` — the same code the inline command uses.

Work that must not outlive its execution (a job, a scratch database) is written to the undo log before it
starts (``undo_entry``) and removed when it is done (``resolved_keys``); ``undo`` is how it is stopped when
the execution ends first (adapters/undo_log.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from freshtrack_ops import jobs
from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.ports import CommandResult, HostRunner

if TYPE_CHECKING:
    from freshtrack_ops.adapters.undo_log import UndoEntry

EventT = TypeVar("EventT", bound=BaseModel)
Output = dict[str, Any]
Context = Mapping[str, Any]
Recorder = Callable[[Context], None]
#: the context key that marks a command as the start of a host job
JOB_KEY = "job"


class HostStep(ABC, Generic[EventT]):
    #: the step's name in pending-command records (stable: records outlive deployments)
    name: ClassVar[str]
    model: type[EventT]

    @abstractmethod
    def host(self, event: EventT) -> str:
        """The target id the step acts on."""

    @abstractmethod
    def prepare(self, event: EventT, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        """The command to run, and what ``finish`` needs besides the event (JSON; no secrets)."""

    @abstractmethod
    def finish(self, event: EventT, target: Target, context: Context, result: CommandResult) -> Output:
        """Interpret the command's result: the task output, or a named error (OpsError)."""

    def run(
        self, event: EventT, target: Target, runner: HostRunner, mode: Mode = "inline", record: Recorder | None = None
    ) -> Output:
        """``record`` is called with the context after ``prepare`` and before the command runs (the handler
        writes the undo entry there)."""
        command, context = self.prepare(event, target, mode)
        if record is not None:
            record(context)
        return self.finish(event, target, context, command.run(runner))

    def abandon(self, event: EventT, target: Target, context: Context) -> None:
        """Undo what ``prepare`` started, after the command failed or could not be sent. Never raises."""

    def discard(self, event: EventT, target: Target, output: Output) -> None:
        """Undo a finished ``run`` whose execution stopped waiting (aborted, timed out). Never raises."""

    def estimate_s(self, event: EventT, target: Target) -> float | None:
        """How long the step's transfer should take (None: not a transfer; it always runs inline)."""
        return None

    def ssm_budget_s(self) -> float | None:
        """The longest an inline transfer may take over SSM (None: no limit of the step's own)."""
        return None

    def undo_entry(self, event: EventT, target: Target, context: Context) -> UndoEntry | None:
        """What to record in the undo log before the command runs (None: nothing to undo)."""
        return None

    def resolved_keys(self, event: EventT, output: Output) -> list[str]:
        """Undo-log keys this successful output makes obsolete."""
        return []

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        """Stop what ``entry`` records: the host command to run (if any), after the S3 side is undone."""
        return None

    def record_metrics(self, event: EventT, target: Target, output: Output) -> None:
        """Emit the step's metrics for a successful output (the caller flushes them)."""

    @property
    def has_metrics(self) -> bool:
        return type(self).record_metrics is not HostStep.record_metrics


class DataStep(HostStep[EventT]):
    """A step that moves a whole backup: inline when it fits the budget, as a polled host job otherwise."""

    @abstractmethod
    def command(self, event: EventT, target: Target, mode: Mode) -> tuple[HostCommand, dict[str, Any]]:
        """The presigned-URL command (every SSM transfer, and an SSH transfer that runs as a job)."""

    @abstractmethod
    def interpret(self, event: EventT, target: Target, context: Context, result: CommandResult) -> Output:
        """The transfer's output from the command's final result (foreground or job)."""

    @abstractmethod
    def stream(self, event: EventT, target: Target, runner: HostRunner) -> Output:
        """The inline SSH transfer: the bytes stream through this invocation."""

    def prepare(self, event: EventT, target: Target, mode: Mode = "inline") -> tuple[HostCommand, Context]:
        command, context = self.command(event, target, mode)
        if mode == "job":
            job_id = jobs.new_job_id()
            env = dict(command.env) | jobs.job_env(target, job_id)
            command = HostCommand(command.script, env, jobs.POLL_TIMEOUT_S)
            context = context | {JOB_KEY: job_id}
        return command, context

    def finish(self, event: EventT, target: Target, context: Context, result: CommandResult) -> Output:
        job_id = context.get(JOB_KEY)
        if not job_id:
            return self.interpret(event, target, context, result)
        jobs.read_started(target, str(job_id), result)
        inner = {key: value for key, value in context.items() if key != JOB_KEY}
        job = jobs.new_job(self.name, target, str(job_id), event.model_dump_json(), inner)
        return {JOB_KEY: job.model_dump(mode="json")}

    def run(
        self, event: EventT, target: Target, runner: HostRunner, mode: Mode = "inline", record: Recorder | None = None
    ) -> Output:
        if mode == "inline":
            return self.stream(event, target, runner)
        command, context = self.prepare(event, target, mode)
        try:
            if record is not None:
                record(context)
            result = command.run(runner)
        except BaseException:
            self.abandon(event, target, context)
            raise
        return self.finish(event, target, context, result)

    def undo_entry(self, event: EventT, target: Target, context: Context) -> UndoEntry | None:
        job_id = context.get(JOB_KEY)
        if not job_id:
            return None
        from freshtrack_ops.adapters.undo_log import UndoEntry

        inner = {key: value for key, value in context.items() if key != JOB_KEY}
        return UndoEntry(
            key=job_key(str(job_id)),
            kind="job",
            step=self.name,
            host=target.id,
            event=event.model_dump_json(),
            context=inner | {JOB_KEY: job_id},
        )

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        """Stop the job on the host; what it started in S3 is undone by ``abandon`` first."""
        event = self.model.model_validate_json(entry.event)
        inner = {key: value for key, value in entry.context.items() if key != JOB_KEY}
        self.abandon(event, target, inner)
        return jobs.cancel_command(target, str(entry.context[JOB_KEY]))

    def refresh(self, event: EventT, target: Target, job: jobs.HostJob, parts_done: int, needs_from: int) -> str:
        """A presigned GET of fresh part URLs for a running job ("" when it needs none)."""
        return ""


def job_key(job_id: str) -> str:
    return f"job#{job_id}"
