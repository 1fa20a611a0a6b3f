"""A host step is one workflow task that runs a host script, written once for every transport.

* SSH and local targets: ``run`` executes the command with a ``HostRunner`` and returns the output at once.
* SSM targets: ``prepare`` gives the command (and a JSON context for later), the handler sends it and keeps
  the task token; when EventBridge reports the command's end, ``finish`` interprets its result with the same
  code, and ``abandon`` undoes what ``prepare`` started when the command failed.

The default ``run`` is ``finish(prepare(...) run over the runner)``: one interpretation for both transports.
Steps that stream data through the Lambda on SSH (dump, verify, load) override ``run``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from freshtrack_ops.config import Target
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.ports import CommandResult, HostRunner

EventT = TypeVar("EventT", bound=BaseModel)
Output = dict[str, Any]
Context = Mapping[str, Any]


class HostStep(ABC, Generic[EventT]):
    #: the step's name in pending-command records (stable: records outlive deployments)
    name: ClassVar[str]
    model: type[EventT]

    @abstractmethod
    def host(self, event: EventT) -> str:
        """The target id the step acts on."""

    @abstractmethod
    def prepare(self, event: EventT, target: Target) -> tuple[HostCommand, Context]:
        """The command to run, and what ``finish`` needs besides the event (JSON; no secrets)."""

    @abstractmethod
    def finish(self, event: EventT, target: Target, context: Context, result: CommandResult) -> Output:
        """Interpret the command's result: the task output, or a named error (OpsError)."""

    def run(self, event: EventT, target: Target, runner: HostRunner) -> Output:
        command, context = self.prepare(event, target)
        return self.finish(event, target, context, command.run(runner))

    def abandon(self, event: EventT, target: Target, context: Context) -> None:
        """Undo what ``prepare`` started, after the command failed or could not be sent. Never raises."""

    def discard(self, event: EventT, target: Target, output: Output) -> None:
        """Undo a finished ``run`` whose execution stopped waiting (aborted, timed out). Never raises."""

    def record_metrics(self, target: Target, output: Output) -> None:
        """Emit the step's metrics for a successful output (the caller flushes them)."""

    @property
    def has_metrics(self) -> bool:
        return type(self).record_metrics is not HostStep.record_metrics
