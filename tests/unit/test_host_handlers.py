"""The host-task handler and the SSM completion handler, with fakes behind ``runtime``: who completes the
task token, with what, and what is undone when a command fails or nobody waits any more."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from freshtrack_ops import runtime
from freshtrack_ops.config import LocalTarget, SsmTarget, Target
from freshtrack_ops.errors import DumpFailed, HostCommandTimeout, HostUnreachable, InvalidInput
from freshtrack_ops.handlers import host as host_handlers
from freshtrack_ops.host_command import HostCommand
from freshtrack_ops.jobs import Mode
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.base import HostStep
from freshtrack_ops.steps.registry import STEPS
from tests.unit.fakes import FakeCallbacks, FakeCommands, FakePending

INSTANCE = "mi-0123456789abcdef0"
SSM_TARGET = SsmTarget(id="demo-ssm", instance_id=INSTANCE, domain="demo.test")
LOCAL_TARGET = LocalTarget(id="demo", domain="demo.test")
TOKEN = "token-" + "x" * 20
COMMAND_ID = str(uuid.UUID(int=7))


class EchoEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str
    word: str


class EchoContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    upload: str


class EchoResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    said: str
    context: EchoContext


class EchoStep(HostStep[EchoEvent, EchoContext, EchoResult]):
    """Prints the word on the host; "fail" makes finish raise DumpFailed."""

    name: ClassVar[str] = "echo"
    model = EchoEvent
    context_model = EchoContext

    def __init__(self) -> None:
        self.abandoned: list[dict[str, Any]] = []
        self.discarded: list[dict[str, Any]] = []

    def host(self, event: EchoEvent) -> str:
        return event.host

    def prepare(self, event: EchoEvent, target: Target, mode: Mode = "inline") -> tuple[HostCommand, EchoContext]:
        return HostCommand("preflight.sh", {"APP_DIR": "/opt/x"}), EchoContext(upload="u-1")

    def finish(self, event: EchoEvent, target: Target, context: EchoContext, result: CommandResult) -> EchoResult:
        if result.stdout.strip() == "fail":
            raise DumpFailed("the host said fail")
        return EchoResult(said=result.stdout.strip(), context=context)

    def abandon(self, event: EchoEvent, target: Target, context: EchoContext) -> None:
        self.abandoned.append(context.model_dump())

    def discard(self, event: EchoEvent, target: Target, output: EchoResult) -> None:
        self.discarded.append(output.model_dump())


class FakeRunner:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout

    def run(self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: Any = None) -> CommandResult:
        return CommandResult(0, self.stdout, "")

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class World:
    step: EchoStep
    callback: FakeCallbacks
    ssm: FakeCommands
    pending: FakePending
    runner_stdout: str = "hello"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    w = World(step=EchoStep(), callback=FakeCallbacks(), ssm=FakeCommands(), pending=FakePending())
    targets: dict[str, Target] = {"demo-ssm": SSM_TARGET, "demo": LOCAL_TARGET}

    class Targets:
        def get(self, host: str) -> Target:
            return targets[host]

    @contextmanager
    def runner(target: Target) -> Any:
        yield FakeRunner(w.runner_stdout)

    monkeypatch.setattr(runtime, "task_callback", lambda: w.callback)
    monkeypatch.setattr(runtime, "ssm_commands", lambda: w.ssm)
    monkeypatch.setattr(runtime, "pending_commands", lambda: w.pending)
    monkeypatch.setattr(runtime, "targets", Targets)
    monkeypatch.setattr(runtime, "runner", runner)
    monkeypatch.setitem(STEPS, "echo", w.step)
    return w


def _status_event(status: str = "Success") -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm",
        "account": "123456789012",
        "time": "2026-11-28T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"command-id": COMMAND_ID, "instance-id": INSTANCE, "status": status, "document-name": "x"},
    }


class Context_:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req"


def _done(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = host_handlers.command_done(event, Context_())
    return result


# -- dispatch ----------------------------------------------------------------------------------------
def test_a_runner_target_completes_its_own_token_with_the_output(world: World) -> None:
    reply = host_handlers.dispatch(world.step, {"host": "demo", "word": "hi", "task_token": TOKEN})
    assert reply == {"completed": "echo", "mode": "inline"}
    assert world.callback.succeeded == [(TOKEN, {"said": "hello", "context": {"upload": "u-1"}})]
    assert world.ssm.sent == []


def test_a_named_error_fails_the_token_with_its_class_name(world: World) -> None:
    world.runner_stdout = "fail"
    reply = host_handlers.dispatch(world.step, {"host": "demo", "word": "hi", "task_token": TOKEN})
    assert reply == {"error": "DumpFailed"}
    assert world.callback.failed == [(TOKEN, "DumpFailed", "the host said fail")]


def test_a_runner_task_whose_execution_stopped_waiting_ends_quietly(world: World) -> None:
    world.callback.gone = True
    reply = host_handlers.dispatch(world.step, {"host": "demo", "word": "hi", "task_token": TOKEN})
    assert reply == {"completed": "echo", "discarded": True}
    assert world.step.discarded == [{"said": "hello", "context": {"upload": "u-1"}}]


def test_a_missing_token_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput, match="task_token"):
        host_handlers.dispatch(world.step, {"host": "demo", "word": "hi"})


def test_a_malformed_event_fails_the_token_naming_the_field(world: World) -> None:
    host_handlers.dispatch(world.step, {"host": "demo", "wrod": "hi", "task_token": TOKEN})
    assert world.callback.failed[0][:2] == (TOKEN, "InvalidInput")
    assert "wrod" in world.callback.failed[0][2]


def test_an_ssm_target_sends_and_keeps_the_token_without_completing_it(world: World) -> None:
    reply = host_handlers.dispatch(world.step, {"host": "demo-ssm", "word": "hi", "task_token": TOKEN})
    assert reply == {"command_id": COMMAND_ID}
    assert world.ssm.sent == [("demo-ssm", "preflight.sh", {"APP_DIR": "/opt/x"})]
    record = world.pending.records[COMMAND_ID]
    assert (record.task_token, record.step, record.host, record.instance_id) == (TOKEN, "echo", "demo-ssm", INSTANCE)
    assert json.loads(record.context) == {"upload": "u-1"}
    assert world.callback.succeeded == []
    assert world.callback.failed == []


def test_a_send_that_fails_undoes_prepare_and_fails_the_token(world: World) -> None:
    world.ssm.send_error = HostUnreachable("mi-…: ConnectionLost")
    host_handlers.dispatch(world.step, {"host": "demo-ssm", "word": "hi", "task_token": TOKEN})
    assert world.step.abandoned == [{"upload": "u-1"}]
    assert world.callback.failed[0][:2] == (TOKEN, "HostUnreachable")
    assert world.pending.records == {}


def test_a_record_that_cannot_be_kept_cancels_the_command(world: World) -> None:
    world.pending.put_error = RuntimeError("throttled")
    with pytest.raises(RuntimeError):
        host_handlers.dispatch(world.step, {"host": "demo-ssm", "word": "hi", "task_token": TOKEN})
    assert world.ssm.cancelled == [COMMAND_ID]
    assert world.step.abandoned == [{"upload": "u-1"}]


# -- command_done ------------------------------------------------------------------------------------
def _sent(world: World) -> None:
    host_handlers.dispatch(world.step, {"host": "demo-ssm", "word": "hi", "task_token": TOKEN})


def test_completion_interprets_the_result_with_the_same_step(world: World) -> None:
    _sent(world)
    world.ssm.result = CommandResult(0, "from-ssm\n", "")
    assert _done(_status_event()) == {"command_id": COMMAND_ID, "completed": "echo"}
    assert world.callback.succeeded == [(TOKEN, {"said": "from-ssm", "context": {"upload": "u-1"}})]
    assert world.pending.records == {}


def test_the_commands_host_exchange_object_is_recorded_and_deleted_when_it_ends(world: World) -> None:
    _sent(world)
    key = world.pending.records[COMMAND_ID].exchange_key
    assert key.startswith("ssm-exchange/hosts/"), "the sender records the exchange object with the command"
    world.ssm.result = CommandResult(0, "from-ssm\n", "")
    _done(_status_event())
    assert world.ssm.discarded == [key]


def test_a_failed_command_deletes_its_host_exchange_object_too(world: World) -> None:
    _sent(world)
    key = world.pending.records[COMMAND_ID].exchange_key
    world.ssm.result = HostCommandTimeout("mi-…: SSM reports ExecutionTimedOut")
    _done(_status_event("TimedOut"))
    assert world.ssm.discarded == [key]


def test_a_command_nobody_can_complete_deletes_its_host_exchange_object(world: World) -> None:
    world.pending.put_error = RuntimeError("table unavailable")
    with pytest.raises(RuntimeError):
        _sent(world)
    assert world.ssm.cancelled == [COMMAND_ID]
    assert [k.startswith("ssm-exchange/hosts/") for k in world.ssm.discarded] == [True]


def test_a_duplicate_event_completes_nothing_twice(world: World) -> None:
    _sent(world)
    world.ssm.result = CommandResult(0, "once", "")
    world.pending.claimed.add(COMMAND_ID)
    assert _done(_status_event()) == {"duplicate": COMMAND_ID}
    assert world.callback.succeeded == []


def test_an_event_before_the_record_is_raised_for_a_retry(world: World) -> None:
    with pytest.raises(host_handlers.CommandNotRegistered):
        _done(_status_event())


def test_an_event_while_ssm_still_reports_running_is_raised_for_a_retry(world: World) -> None:
    _sent(world)
    world.ssm.result = None
    with pytest.raises(host_handlers.CommandStillRunning):
        _done(_status_event())
    assert COMMAND_ID in world.pending.records and COMMAND_ID not in world.pending.claimed


def test_non_final_statuses_are_ignored(world: World) -> None:
    assert _done(_status_event("InProgress")) == {"ignored": "InProgress"}


def test_a_timed_out_command_undoes_prepare_and_fails_the_token_named(world: World) -> None:
    _sent(world)
    world.ssm.result = HostCommandTimeout("mi-…: SSM reports ExecutionTimedOut")
    assert _done(_status_event("TimedOut"))["error"] == "HostCommandTimeout"
    assert world.step.abandoned == [{"upload": "u-1"}]
    assert world.callback.failed == [(TOKEN, "HostCommandTimeout", "mi-…: SSM reports ExecutionTimedOut")]
    assert world.pending.records == {}


def test_a_result_the_step_refuses_fails_the_token_and_is_undone(world: World) -> None:
    _sent(world)
    world.ssm.result = CommandResult(0, "fail", "")
    assert _done(_status_event())["error"] == "DumpFailed"
    assert world.step.abandoned == [{"upload": "u-1"}]


def test_nobody_waiting_any_more_undoes_the_work(world: World) -> None:
    _sent(world)
    world.ssm.result = CommandResult(0, "late", "")
    world.callback.gone = True
    assert _done(_status_event())["completed"] == "echo"
    assert world.step.abandoned == [{"upload": "u-1"}]
    assert world.pending.records == {}
