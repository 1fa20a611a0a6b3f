"""The update-fleet ASL as it deploys, run by moto's interpreter with the real fleet tasks, against a stub update
workflow (one Lambda that does what each host is told to: succeed, roll back, fail, or say it is current).

What the fleet relies on in the interpreter is checked here on the way: MaxConcurrencyPath (moto's inline Map
honours it, one worker per allowed iteration, items taken in order: no patch needed), nested
``states:startExecution.sync:2`` with a Name (our moto_patches map PascalCase both ways), a child's failure as
``States.TaskFailed`` with its DescribeExecution as cause, and idempotent named starts. A run takes about a second:
the scenarios that need no real host live here, tests/integration/test_update_fleet.py runs real updates.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

import state_machines
from freshtrack_ops import runtime
from freshtrack_ops.adapters.dynamo import DynamoFleetGate
from freshtrack_ops.config import LocalTarget, TargetSet
from freshtrack_ops.errors import AlreadyAtVersion, HostUnreachable, RolledBack
from freshtrack_ops.tasks import TASKS
from opsctl.local import moto_patches
from opsctl.local.configuration import library_environment
from opsctl.local.ops_table import create_ops_table

REGION = "us-east-1"
TABLE = "ftops-asl-ops"
PARAMETER = "/ftops-asl/targets"
HOSTS = ("canary", "alpha", "beta", "gamma", "delta")
#: the tasks the fleet ASL invokes, routed in-process to the real handlers
FLEET_TASKS = ("FleetValidate", "FleetGate", "FleetReport", "ExplainError")
STUB = "ftops-asl-stub-update"


@dataclass
class StubUpdates:
    """What the stub update does per host, and what it saw: which hosts it updated, how many at once."""

    behaviour: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


STUBS = StubUpdates()


def stub_update(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The stub update workflow's one task: its input is what the fleet passes to the update workflow."""
    host = event["host"]
    with STUBS.lock:
        STUBS.started.append(host)
        STUBS.running += 1
        STUBS.most_at_once = max(STUBS.most_at_once, STUBS.running)
    try:
        time.sleep(STUBS.seconds.get(host, 0.15))
        behaviour = STUBS.behaviour.get(host, "ok")
        if behaviour == "rolled-back":
            raise RolledBack(f"Update of host {host} to {event['version']} failed with VerificationFailed")
        if behaviour == "current":
            raise AlreadyAtVersion(f"{host} already runs {event['version']}")
        if behaviour == "fail":
            raise HostUnreachable(f"{host}: connection refused")
        return {"host": host, "to_version": event["version"], "input": event}
    finally:
        with STUBS.lock:
            STUBS.running -= 1


@dataclass
class Moto:
    sfn: Any
    dynamodb: Any
    fleet_arn: str
    update_arn: str
    #: every test's executions start with its own prefix (one moto for the module: names must not repeat)
    prefix: str = "t0"

    def start(self, execution_input: dict[str, Any], name: str = "fleet") -> str:
        arn: str = self.sfn.start_execution(
            stateMachineArn=self.fleet_arn, name=f"{self.prefix}-{name}", input=json.dumps(execution_input)
        )["executionArn"]
        return arn

    def run(self, execution_input: dict[str, Any], name: str = "fleet") -> dict[str, Any]:
        return self.wait(self.start(execution_input, name))

    def wait(self, arn: str, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{arn} still running"
            time.sleep(0.02)
        return dict(described)

    def children(self) -> list[dict[str, Any]]:
        """This test's nested updates."""
        executions = self.sfn.list_executions(stateMachineArn=self.update_arn)["executions"]
        return [e for e in executions if e["name"].startswith(f"{self.prefix}-")]


@pytest.fixture(scope="module")
def deployed() -> Iterator[Moto]:
    """One embedded AWS for the module (deploying takes about a second); each test names its own executions."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in library_environment("WARNING").items():
            monkeypatch.setenv(key, value)
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
            moto_patches.install()
            moto_patches.STATE.time_scale = 0.0
            runtime.reset()
            yield _deploy()
            for name in (*FLEET_TASKS, "StubUpdate"):
                moto_patches.STATE.routes.pop(f"ftops-asl-{name}", None)
            runtime.configure(None)
            runtime.reset()


@pytest.fixture
def aws(deployed: Moto) -> Moto:
    STUBS.__init__()  # type: ignore[misc]
    deployed.prefix = f"t{next(_TEST_NUMBER)}"
    return deployed


_TEST_NUMBER = itertools.count(1)


def _deploy() -> Moto:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ssm = boto3.client("ssm", region_name=REGION)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    create_ops_table(dynamodb, TABLE)
    targets = TargetSet(targets=tuple(LocalTarget(id=h, domain=f"{h}.example.org") for h in HOSTS))
    ssm.put_parameter(Name=PARAMETER, Value=targets.model_dump_json(), Type="String")
    runtime.configure(runtime.Settings(backup_bucket="ftops-asl-bucket", ops_table=TABLE, targets_parameter=PARAMETER))
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="ftops-asl", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    lambdas = boto3.client("lambda", region_name=REGION)
    arns = {name: f"arn:aws:lambda:{REGION}:123456789012:function:unused-{name}" for name in TASKS}
    routed = {name: TASKS[name].handler for name in FLEET_TASKS} | {"StubUpdate": f"{__name__}.stub_update"}
    for name, handler in routed.items():
        arns[name] = lambdas.create_function(
            FunctionName=f"ftops-asl-{name}",
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": _zip()},
            Timeout=60,
        )["FunctionArn"]
        moto_patches.STATE.routes[f"ftops-asl-{name}"] = (handler, 256, 60)
    stub = {
        "StartAt": "Update",
        "States": {"Update": {"Type": "Task", "Resource": arns["StubUpdate"], "End": True}},
    }
    update_arn = sfn.create_state_machine(name=STUB, definition=json.dumps(stub), roleArn=role)["stateMachineArn"]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="ftops-asl")["TopicArn"]
    values = state_machines.substitutions(arns, topic, {"update": update_arn})
    fleet_arn = sfn.create_state_machine(
        name="ftops-asl-update-fleet", definition=state_machines.render("update-fleet", values), roleArn=role
    )["stateMachineArn"]
    return Moto(sfn=sfn, dynamodb=dynamodb, fleet_arn=fleet_arn, update_arn=update_arn)


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _statuses(described: dict[str, Any]) -> dict[str, str]:
    output = json.loads(described["output"])
    return {host["host"]: host["status"] for host in output["hosts"]}


def test_a_good_fleet_runs_the_canary_alone_then_the_rest_at_most_max_concurrency_at_once(aws: Moto) -> None:
    STUBS.seconds["canary"] = 0.4
    described = aws.run({"version": "v2.0.0", "targets": "all", "canary": "beta", "max_concurrency": 2})

    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert [h["host"] for h in output["hosts"]] == ["beta", "canary", "alpha", "gamma", "delta"], "rollout order"
    assert set(_statuses(described).values()) == {"succeeded"}
    assert all(h["version"] == "v2.0.0" for h in output["hosts"])
    assert STUBS.started[0] == "beta", "the canary first, alone"
    assert STUBS.most_at_once == 2, "MaxConcurrencyPath is honoured (and reached)"
    names = {c["name"] for c in aws.children()}
    assert names == {f"{aws.prefix}-fleet-{h}" for h in HOSTS}, "each nested update is named <fleet>-<host>"
    child_input = json.loads(aws.sfn.describe_execution(executionArn=output["hosts"][0]["execution_arn"])["input"])
    assert child_input == {
        "host": "beta",
        "version": "v2.0.0",
        "kind": "release",
        "reason": f"update of fleet {aws.prefix}-fleet",
        "rollback_database": "auto",
        "allow_downgrade": False,
    }, "exactly the update workflow's input (UpdateRequest), nothing else"
    assert output["summary"].startswith(f"Fleet update {aws.prefix}-fleet to v2.0.0 succeeded on all 5 hosts")


def test_a_canary_that_rolls_back_leaves_the_others_untouched(aws: Moto) -> None:
    STUBS.behaviour["alpha"] = "rolled-back"
    described = aws.run({"version": "v2.0.0", "targets": ["alpha", "beta", "gamma"], "max_concurrency": 2})

    assert described["status"] == "FAILED"
    assert described["error"] == "FleetUpdateFailed"
    assert STUBS.started == ["alpha"], "no other host was started"
    assert [c["name"] for c in aws.children()] == [f"{aws.prefix}-fleet-alpha"]
    cause = described["cause"]
    assert "alpha rolled-back: RolledBack" in cause and "VerificationFailed" in cause
    assert "Not started (unchanged): beta, gamma." in cause
    report = _report(aws, described)
    assert _statuses_of(report) == {"alpha": "rolled-back", "beta": "skipped", "gamma": "skipped"}
    assert report["halted_by"] == "alpha"


def test_a_failure_in_a_wave_stops_new_updates_and_lets_running_ones_finish(aws: Moto) -> None:
    # two at a time after the canary: alpha fails at once while beta is still updating; beta must finish
    # (an update is never stopped half-way), gamma and delta must not start
    STUBS.behaviour["alpha"] = "fail"
    STUBS.seconds |= {"alpha": 0.05, "beta": 0.8}
    described = aws.run(
        {"version": "v2.0.0", "targets": ["canary", "alpha", "beta", "gamma", "delta"], "max_concurrency": 2}
    )

    assert described["status"] == "FAILED" and described["error"] == "FleetUpdateFailed"
    assert sorted(STUBS.started) == ["alpha", "beta", "canary"]
    report = _report(aws, described)
    assert _statuses_of(report) == {
        "canary": "succeeded",
        "alpha": "failed",
        "beta": "succeeded",
        "gamma": "skipped",
        "delta": "skipped",
    }
    alpha = next(h for h in report["hosts"] if h["host"] == "alpha")
    assert alpha["error"] == "HostUnreachable" and "connection refused" in alpha["cause"]
    assert alpha["execution_arn"].endswith(f":execution:{STUB}:{aws.prefix}-fleet-alpha")
    gamma = next(h for h in report["hosts"] if h["host"] == "gamma")
    assert gamma["cause"].startswith("not started: updates stopped: alpha failed (HostUnreachable")
    gate = DynamoFleetGate(aws.dynamodb, TABLE, keep_seconds=60)
    assert gate.started(report["execution_id"]) == ["alpha", "beta", "canary"]


def test_one_at_a_time_goes_in_order_and_stops_at_the_first_failure(aws: Moto) -> None:
    STUBS.behaviour["beta"] = "rolled-back"
    described = aws.run({"version": "v2.0.0", "targets": ["canary", "alpha", "beta", "gamma", "delta"]})

    assert described["status"] == "FAILED"
    assert STUBS.started == ["canary", "alpha", "beta"], "max_concurrency 1 (the default): in order, one at a time"
    assert STUBS.most_at_once == 1
    assert "Not started (unchanged): gamma, delta." in described["cause"]


def test_a_host_already_at_the_version_counts_as_current_not_as_a_failure(aws: Moto) -> None:
    STUBS.behaviour |= {"canary": "current", "beta": "current"}
    described = aws.run({"version": "v2.0.0", "targets": ["canary", "alpha", "beta"]})

    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert _statuses(described) == {"canary": "current", "alpha": "succeeded", "beta": "current"}


def test_an_operator_halt_lets_the_running_update_finish_and_starts_no_other(aws: Moto) -> None:
    STUBS.seconds["alpha"] = 1.0
    arn = aws.start({"version": "v2.0.0", "targets": ["canary", "alpha", "beta"]})
    deadline = time.monotonic() + 30
    while "alpha" not in STUBS.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    halted = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName="ftops-asl-FleetGate",
        Payload=json.dumps({"action": "halt", "execution_id": arn, "reason": "a customer reported errors"}),
    )
    assert json.loads(halted["Payload"].read())["halted_by"] == "operator"

    described = aws.wait(arn)
    assert described["status"] == "FAILED"
    report = _report(aws, described)
    assert _statuses_of(report) == {"canary": "succeeded", "alpha": "succeeded", "beta": "skipped"}
    assert "halted by an operator: a customer reported errors" in described["cause"]


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"version": "v2.0.0", "targets": ["alpha", "nowhere"]}, "targets: unknown target 'nowhere'"),
    ({"version": "v2.0.0", "targets": ["alpha", "beta"], "canary": "gamma"}, "canary: must be one of"),
    ({"version": "v2.0.0; rm -rf /", "targets": "all"}, "version: String should match pattern"),
    ({"version": "v2.0.0", "targets": "all", "max_concurrency": 41}, "max_concurrency:"),
    ({"version": "v2.0.0", "targets": ["alpha", "alpha"]}, "targets: listed more than once: alpha"),
]


def test_a_bad_request_is_refused_before_any_update_starts(aws: Moto) -> None:
    arns = [aws.start(request_input, f"bad-{n}") for n, (request_input, _) in enumerate(BAD_REQUESTS)]
    for arn, (_, expected) in zip(arns, BAD_REQUESTS, strict=True):
        described = aws.wait(arn)
        assert described["status"] == "FAILED"
        assert described["error"] == "InvalidInput"
        assert expected in described["cause"]
    assert aws.children() == [] and STUBS.started == []


def test_a_named_start_is_idempotent_while_running_and_refused_once_ended(aws: Moto) -> None:
    """What a retried nested start relies on (StartExecution: same name and input while RUNNING returns that
    execution; otherwise ExecutionAlreadyExists): moto implements it as Step Functions documents it."""
    STUBS.seconds["alpha"] = 0.5
    body = json.dumps({"host": "alpha", "version": "v2.0.0"})
    name = f"{aws.prefix}-again"
    first = aws.sfn.start_execution(stateMachineArn=aws.update_arn, name=name, input=body)["executionArn"]
    second = aws.sfn.start_execution(stateMachineArn=aws.update_arn, name=name, input=body)["executionArn"]
    assert first == second
    aws.wait(first)
    with pytest.raises(aws.sfn.exceptions.ExecutionAlreadyExists):
        aws.sfn.start_execution(stateMachineArn=aws.update_arn, name=name, input=body)
    assert STUBS.started == ["alpha"]


def _report(aws: Moto, described: dict[str, Any]) -> dict[str, Any]:
    """The Report state's output (a failed execution has none of its own)."""
    events = aws.sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    exits = [e["stateExitedEventDetails"] for e in events if e["type"] == "TaskStateExited"]
    report = next(json.loads(d["output"]) for d in reversed(exits) if d["name"] == "Report")
    return dict(report) | {"execution_id": described["executionArn"]}


def _statuses_of(report: dict[str, Any]) -> dict[str, str]:
    return {host["host"]: host["status"] for host in report["hosts"]}
