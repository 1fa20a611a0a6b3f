"""A host step is one workflow task that runs a host script, written once for every transport.

* SSH and local targets: ``run`` executes the command with a ``HostRunner`` and returns the result at once.
* SSM targets: ``prepare`` gives the command (and a context model for later), the handler sends it and keeps
  the task token; when EventBridge reports the command's end, ``finish`` interprets its result with the same
  code, and ``abandon`` undoes what ``prepare`` started when the command failed.

Every step is typed by its event, its context and its result (``HostStep[EventT, ContextT, ResultT]``): the
handler parses the event, and turns the result into the task output once (``model_dump``); no plain dict
crosses from the steps to the handlers.

The default ``run`` is ``finish(prepare(...) run over the runner)``: one interpretation for both transports.

Data steps (dump, verify, load; ``DataStep``) move a whole backup. Each transfer runs ``inline`` (SSH: streamed
through the Lambda; SSM: one command) when it is expected to fit its budget, or as a detached host ``job``
(``freshtrack_ops.jobs``) that the state machine polls: then ``finish`` of the start returns ``JobStarted``
and the poll step hands the job's final output to ``interpret``, the same code the inline command uses.

Work that must not outlive its execution (a job, a scratch database) is written to the undo log before it
starts (``undo_entry``) and removed when it is done (``resolved_keys``); ``undo`` is how it is stopped when
the execution ends first (adapters/undo_log.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from freshtrack_ops import jobs
from freshtrack_ops.adapters.undo_log import UndoEntry
from freshtrack_ops.config import LocalTarget, SshTarget, Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import DataContext, JobStarted, Mode
from freshtrack_ops.observability import metrics
from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.steps.metrics import job_started


class NoContext(BaseModel):
    """The context of a step whose result needs nothing but the command's output."""

    model_config = ConfigDict(extra="forbid", frozen=True)


EventT = TypeVar("EventT", bound=BaseModel)
ContextT = TypeVar("ContextT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)
DataContextT = TypeVar("DataContextT", bound=DataContext)
Recorder = Callable[[BaseModel], None]
#: what runs a step over SSH or the local transport (SSM targets send commands instead)
RunnerTarget = SshTarget | LocalTarget


class NamesItsHost(Protocol):
    """An event that names its target directly (most host steps' events)."""

    @property
    def host(self) -> str: ...


class OnEventHost:
    """``host()`` for a step whose event carries ``host``: put it first among the step's bases."""

    def host(self, event: NamesItsHost) -> str:
        return event.host


class HostStep(ABC, Generic[EventT, ContextT, ResultT]):
    #: the step's name in pending-command records (stable: records outlive deployments)
    name: ClassVar[str]
    #: the host scripts the step may run (inline over SSH first, then the presigned-URL variant), for the docs
    scripts: ClassVar[tuple[str, ...]]
    #: the domain modules (under freshtrack_ops) whose functions build and read the step's commands, for the docs
    domain: ClassVar[str]
    model: type[EventT]
    context_model: type[ContextT]

    @abstractmethod
    def host(self, event: EventT) -> str:
        """The target id the step acts on."""

    @abstractmethod
    def prepare(self, event: EventT, target: Target, mode: Mode = "inline") -> tuple[HostCommand, ContextT]:
        """The command to run, and what ``finish`` needs besides the event (no secrets)."""

    @abstractmethod
    def finish(self, event: EventT, target: Target, context: ContextT, result: CommandResult) -> ResultT:
        """Interpret the command's result: the step's result, or a named error (OpsError)."""

    def run(
        self,
        event: EventT,
        target: RunnerTarget,
        runner: HostRunner,
        mode: Mode = "inline",
        record: Recorder | None = None,
    ) -> ResultT:
        """``record`` is called with the context after ``prepare`` and before the command runs (the handler
        writes the undo entry there)."""
        command, context = self.prepare(event, target, mode)
        if record is not None:
            record(context)
        return self.finish(event, target, context, command.run(runner))

    def abandon(self, event: EventT, target: Target, context: ContextT) -> None:
        """Undo what ``prepare`` started, after the command failed or could not be sent. Never raises."""

    def discard(self, event: EventT, target: Target, output: ResultT) -> None:
        """Undo a finished ``run`` whose execution stopped waiting (aborted, timed out). Never raises."""

    def estimate_s(self, event: EventT, target: Target) -> float | None:
        """How long the step's transfer should take (None: not a transfer; it always runs inline)."""
        return None

    def ssm_budget_s(self) -> float | None:
        """The longest an inline transfer may take over SSM (None: no limit of the step's own)."""
        return None

    def undo_entry(self, event: EventT, target: Target, context: ContextT) -> UndoEntry | None:
        """What to record in the undo log before the command runs (None: nothing to undo)."""
        return None

    def resolved_keys(self, event: EventT, output: ResultT) -> list[str]:
        """Undo-log keys this successful output makes obsolete."""
        return []

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        """Stop what ``entry`` records: the host command to run (if any), after the S3 side is undone."""
        return None

    def record_metrics(self, event: EventT, target: Target, output: ResultT) -> None:
        """Emit the step's metrics for a successful output (the caller flushes them)."""

    @property
    def has_metrics(self) -> bool:
        return type(self).record_metrics is not HostStep.record_metrics


class DataStep(HostStep[EventT, DataContextT, ResultT | JobStarted]):
    """A step that moves a whole backup: inline when it fits the budget, as a polled host job otherwise."""

    @abstractmethod
    def command(self, event: EventT, target: Target) -> tuple[HostCommand, DataContextT]:
        """The presigned-URL command (every SSM transfer, and an SSH transfer that runs as a job)."""

    @abstractmethod
    def interpret(self, event: EventT, target: Target, context: DataContextT, result: CommandResult) -> ResultT:
        """The transfer's result from the command's final output (foreground or job)."""

    @abstractmethod
    def stream(self, event: EventT, target: RunnerTarget, runner: HostRunner) -> ResultT:
        """The inline SSH transfer: the bytes stream through this invocation."""

    def record_metrics(self, event: EventT, target: Target, output: ResultT | JobStarted) -> None:
        """A transfer started as a host job counts as one; a finished one adds its host and its own figures."""
        if isinstance(output, JobStarted):
            job_started(target)
            return
        metrics.add_dimension(name="host", value=target.id)
        self.record_transfer_metrics(output)

    @abstractmethod
    def record_transfer_metrics(self, output: ResultT) -> None:
        """The finished transfer's figures (the host dimension is set)."""

    def prepare(self, event: EventT, target: Target, mode: Mode = "inline") -> tuple[HostCommand, DataContextT]:
        command, context = self.command(event, target)
        if mode == "job":
            job_id = jobs.new_job_id()
            env = dict(command.env) | jobs.job_env(target, job_id)
            command = HostCommand(command.script, env, jobs.POLL_TIMEOUT_S)
            context = context.model_copy(update={"job_id": job_id})
        return command, context

    def finish(
        self, event: EventT, target: Target, context: DataContextT, result: CommandResult
    ) -> ResultT | JobStarted:
        if context.job_id is None:
            return self.interpret(event, target, context, result)
        jobs.read_started(target, context.job_id, result)
        job = jobs.new_job(
            self.name,
            target,
            context.job_id,
            event.model_dump_json(),
            context.model_dump_json(),
            limit_s=self.job_limit_s(target),
            part_bytes=self.part_bytes(),
        )
        return JobStarted(job=job)

    def run(
        self,
        event: EventT,
        target: RunnerTarget,
        runner: HostRunner,
        mode: Mode = "inline",
        record: Recorder | None = None,
    ) -> ResultT | JobStarted:
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

    def undo_entry(self, event: EventT, target: Target, context: DataContextT) -> UndoEntry | None:
        if context.job_id is None:
            return None
        return UndoEntry(
            key=job_key(context.job_id),
            kind="job",
            step=self.name,
            host=target.id,
            event=event.model_dump_json(),
            context=context.model_dump_json(),
        )

    def undo(self, entry: UndoEntry, target: Target) -> HostCommand | None:
        """Stop the job on the host; what it started in S3 is undone by ``abandon`` first."""
        event = self.model.model_validate_json(entry.event)
        context = self.context_model.model_validate_json(entry.context)
        self.abandon(event, target, context)
        if context.job_id is None:
            return None
        return jobs.cancel_command(target, context.job_id)

    def part_bytes(self) -> int:
        """The size of the parts a job of this step uploads (0: it uploads none), so a poll's count of parts
        done reads as bytes (``opsctl --wait`` shows them)."""
        return 0

    def job_limit_s(self, target: Target) -> float | None:
        """How long the step's job may run before it is stopped (None: the target's ``max_transfer_hours``)."""
        return None

    def refresh(self, event: EventT, target: Target, job: jobs.HostJob) -> str:
        """A presigned GET of fresh part URLs for a running job ("" when it needs none)."""
        return ""


def job_key(job_id: str) -> str:
    return f"job#{job_id}"


AnyStep = HostStep[Any, Any, Any]
