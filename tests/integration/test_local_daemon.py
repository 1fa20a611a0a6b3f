"""The local plane as a background process: one daemon for the module, reached only through its endpoint
(http://127.0.0.1:<port>) with boto3, as the CLI reaches it."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshtrack_ops.adapters.approvals import DynamoApprovalStore
from freshtrack_ops.adapters.dynamo import DynamoCatalog
from freshtrack_ops.adapters.task_callback import TaskCallback
from freshtrack_ops.config import TargetSet
from freshtrack_ops.ports import PendingApproval
from freshtrack_ops.restore.approval import answer_approval
from opsctl.inputs import INPUT_MODELS
from opsctl.local import daemon
from opsctl.local.daemon import PlaneEndpoint
from opsctl.local.names import ACCOUNT, TASK_ROLE
from opsctl.local.sshd import available as sshd_available
from stacks.names import camel

pytestmark = pytest.mark.integration

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-daemon")


@pytest.fixture(scope="module")
def started(state_dir: Path) -> Iterator[tuple[list[PlaneEndpoint], int]]:
    """The module's daemon, started by two concurrent ``ensure_running`` calls: (what each got, how many times
    ``on_starting`` was called)."""
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    got: list[PlaneEndpoint] = []
    errors: list[BaseException] = []
    starting: list[int] = []
    began = time.monotonic()

    def start() -> None:
        try:
            got.append(daemon.ensure_running(state_dir, timeout_s=180, on_starting=lambda: starting.append(1)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"daemon ready in {time.monotonic() - began:.1f} s")
    try:
        assert not errors, errors
        yield got, len(starting)
    finally:
        daemon.stop(state_dir)


@pytest.fixture(scope="module")
def endpoint(started: tuple[list[PlaneEndpoint], int]) -> PlaneEndpoint:
    return started[0][0]


def wait_final(sfn: Any, arn: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in FINAL:
        assert time.monotonic() < deadline, f"{arn} still {described['status']}"
        time.sleep(0.1)
    found: dict[str, Any] = described
    return found


def test_concurrent_starts_start_one_daemon_and_later_calls_reuse_it(
    started: tuple[list[PlaneEndpoint], int], state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got, on_starting_calls = started
    assert len(got) == 2 and got[0] == got[1]
    assert on_starting_calls == 1
    endpoint = got[0]
    assert endpoint.endpoint_url.startswith("http://127.0.0.1:")
    assert endpoint.hosts == ("demo", "demo-ssm")
    assert endpoint.state_dir == state_dir
    assert os.getsid(endpoint.pid) == endpoint.pid  # a session of its own: it outlives the caller and its terminal
    assert daemon.ensure_running(state_dir, on_starting=lambda: pytest.fail("started a second daemon")) == endpoint
    monkeypatch.setenv(daemon.STATE_DIR_ENV, str(state_dir))
    assert daemon.default_state_dir() == state_dir
    assert daemon.status() == endpoint
    recorded = json.loads((state_dir / "plane.json").read_text())
    assert recorded["pid"] == endpoint.pid and recorded["started_at"]


def test_outputs_are_the_stack_outputs(endpoint: PlaneEndpoint) -> None:
    for workflow in INPUT_MODELS:
        arn = endpoint.outputs[f"{camel(workflow)}StateMachineArn"]
        assert arn.startswith(f"arn:aws:states:{endpoint.region}:{ACCOUNT}:stateMachine:")
    sfn = daemon.client(endpoint, "stepfunctions")
    machines = {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert {endpoint.outputs[f"{camel(w)}StateMachineArn"] for w in INPUT_MODELS} <= machines
    assert daemon.client(endpoint, "dynamodb").describe_table(TableName=endpoint.outputs["OpsTableName"])
    assert daemon.client(endpoint, "s3").head_bucket(Bucket=endpoint.outputs["BackupBucketName"])
    topic = daemon.client(endpoint, "sns").get_topic_attributes(TopicArn=endpoint.outputs["NotificationTopicArn"])
    assert topic["Attributes"]["TopicArn"] == endpoint.outputs["NotificationTopicArn"]
    parameter = daemon.client(endpoint, "ssm").get_parameter(Name=endpoint.outputs["TargetsParameterName"])
    # moto's own API is not served: its reset would wipe the plane, its data dump print every secret
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{endpoint.endpoint_url}/moto-api/data.json", timeout=10)
    assert refused.value.code == 404
    targets = TargetSet.model_validate_json(parameter["Parameter"]["Value"])
    assert {"demo", "demo-ssm"} <= {target.id for target in targets.targets}


def test_a_backup_through_the_endpoint(endpoint: PlaneEndpoint) -> None:
    sfn = daemon.client(endpoint, "stepfunctions")
    seen = len(daemon.notifications(endpoint))
    began = time.monotonic()
    arn = sfn.start_execution(
        stateMachineArn=endpoint.outputs["BackupStateMachineArn"],
        input=json.dumps({"host": "demo", "trigger": "console"}),
    )["executionArn"]
    described = wait_final(sfn, arn)
    print(f"backup through the endpoint: {described['status']} in {time.monotonic() - began:.2f} s")
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    # the real ASL ran (moto's execute_state_machine holds for executions started over HTTP): the tasks' states
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"]
    assert len(entered) >= 3 and events[-1]["type"] == "ExecutionSucceeded"

    catalog = DynamoCatalog(daemon.client(endpoint, "dynamodb"), endpoint.outputs["OpsTableName"])
    entry = next(e for e in catalog.list_backups("demo") if e.backup_id == output["backup_id"])
    assert entry.dump_key == output["dump_key"]
    scanned = daemon.client(endpoint, "dynamodb").scan(TableName=endpoint.outputs["OpsTableName"])["Items"]
    assert any(item.get("backup_id", {}).get("S") == output["backup_id"] for item in scanned)

    s3 = daemon.client(endpoint, "s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=endpoint.outputs["BackupBucketName"])["Contents"]}
    assert {output["dump_key"], output["manifest_key"]} <= keys
    head = s3.head_object(Bucket=endpoint.outputs["BackupBucketName"], Key=output["dump_key"])
    assert head["ContentLength"] == output["size_bytes"]

    deadline = time.monotonic() + 10
    while not (new := [n for n in daemon.notifications(endpoint)[seen:] if output["backup_id"] in n["Message"]]):
        assert time.monotonic() < deadline, "no notification of the backup in notifications.jsonl"
        time.sleep(0.1)
    assert new[0]["Subject"] == "FreshTrack backup succeeded"
    assert arn in new[0]["Message"]

    # the tasks' calls were checked against their roles, and nothing (theirs or the operator's) was refused
    iam = daemon.diagnostics(endpoint)["iam"]
    assert iam["checked"] > 0 and iam["denials"] == []


def test_executions_started_without_a_name_are_distinct(endpoint: PlaneEndpoint) -> None:
    sfn = daemon.client(endpoint, "stepfunctions")
    body = json.dumps({"host": "no-such-host", "trigger": "console"})
    machine = endpoint.outputs["BackupStateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine, input=body)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, input=body)["executionArn"]
    assert first != second and not first.endswith(":None")
    for arn in (first, second):
        assert wait_final(sfn, arn)["status"] == "FAILED"


def test_task_callbacks_through_the_endpoint(endpoint: PlaneEndpoint) -> None:
    """What ``opsctl approve|reject`` does for a restore waiting for approval: the approval item read with
    ``DynamoApprovalStore``, the token answered with ``TaskCallback``, both on endpoint clients."""
    sfn, sqs = daemon.client(endpoint, "stepfunctions"), daemon.client(endpoint, "sqs")
    ddb = daemon.client(endpoint, "dynamodb")
    queue = sqs.create_queue(QueueName="daemon-test-approvals")["QueueUrl"]
    definition = {
        "StartAt": "WaitForApproval",
        "States": {
            "WaitForApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 120,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="daemon-test-approval",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE}",
    )["stateMachineArn"]
    store = DynamoApprovalStore(ddb, endpoint.outputs["OpsTableName"])
    outcomes: dict[bool, dict[str, Any]] = {}
    for approve in (True, False):
        arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not messages:
            assert time.monotonic() < deadline, "the task token never reached the queue"
            messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        token = json.loads(messages[0]["Body"])["token"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
        store.put(PendingApproval(execution_id=arn, task_token=token, host="demo", backup_id="b", expires_at=0))
        answer_approval(arn, approve=approve, reason="daemon test", store=store, callbacks=TaskCallback(sfn))
        outcomes[approve] = wait_final(sfn, arn)
        assert store.get(arn) is None
    assert outcomes[True]["status"] == "SUCCEEDED"
    assert json.loads(outcomes[True]["output"]) == {"approved": True, "reason": "daemon test"}
    assert (outcomes[False]["status"], outcomes[False]["error"]) == ("FAILED", "ApprovalRejected")
    assert daemon.diagnostics(endpoint)["iam"]["denials"] == []


def test_opsctl_wait_in_a_real_terminal_shows_the_live_view_and_ends_with_the_outcome(
    endpoint: PlaneEndpoint, state_dir: Path, tmp_path: Path
) -> None:
    """``opsctl --local start backup --wait`` in tmux (a real pseudo-terminal, 110x30): while it runs, the live
    table shows the running state; it ends with the outcome, the backup's figures and exit 0. The daemon is the
    module's: the CLI finds it through FRESHTRACK_OPS_LOCAL_DIR, as a reader's shell would."""
    tmux = shutil.which("tmux")
    assert tmux is not None, "tmux is needed (make sysdeps installs it)"
    opsctl = Path(sys.executable).parent / "opsctl"
    socket_name = f"ftops-{os.getpid()}"
    command = (
        f"FRESHTRACK_OPS_LOCAL_DIR={shlex.quote(str(state_dir))} {shlex.quote(str(opsctl))} --local "
        "start backup --host demo --reason 'terminal test' --wait; echo EXIT=$?; sleep 60"
    )
    subprocess.run(
        [tmux, "-L", socket_name, "-f", "/dev/null", "new-session", "-d", "-x", "110", "-y", "30", command], check=True
    )
    frames: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            frame = subprocess.run(
                [tmux, "-L", socket_name, "capture-pane", "-p"], capture_output=True, text=True, check=True
            ).stdout
            frames.append(frame)
            if "EXIT=" in frame:
                break
            time.sleep(0.05)
    finally:
        subprocess.run([tmux, "-L", socket_name, "kill-server"], check=False)
    final = frames[-1]
    (tmp_path / "screen.txt").write_text(final, encoding="utf-8")
    print(final)
    assert "EXIT=0" in final, final
    running = [frame for frame in frames if " RUNNING " in frame and "… " in frame]
    assert running, "no frame showed the execution running with its current state"
    assert "=> SUCCEEDED" in final and "backup_id: demo-" in final and "notified: FreshTrack backup succeeded" in final
    for state in ("ValidateInput", "AcquireLock", "Preflight", "StreamDump", "WriteManifest", "ReleaseLock"):
        assert re.search(rf"✓\s+{state}\s+Task\s+\d+\.\d s", final), (state, final)


def test_stop_ends_the_daemon_and_a_stale_plane_file_is_ignored(endpoint: PlaneEndpoint, state_dir: Path) -> None:
    began = time.monotonic()
    assert daemon.stop(state_dir) is True
    print(f"daemon stopped in {time.monotonic() - began:.1f} s")
    assert not daemon.pid_alive(endpoint.pid)
    assert not (state_dir / "plane.json").exists()
    assert not (state_dir / "plane").exists()
    assert daemon.status(state_dir) is None
    assert daemon.stop(state_dir) is False
    log = (state_dir / "plane.log").read_text()
    assert "ready in" in log and "stopped" in log
    assert ' HTTP/1.1"' not in log  # no request lines: presigned URLs are credentials
    # the notifications stay readable after the stop
    assert any(n["Subject"] == "FreshTrack backup succeeded" for n in daemon.notifications(endpoint))

    # a plane.json left by a daemon that died: its pid is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {
        "pid": dead.pid,
        "endpoint_url": endpoint.endpoint_url,
        "region": endpoint.region,
        "outputs": endpoint.outputs,
        "hosts": list(endpoint.hosts),
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    (state_dir / "plane.json").write_text(json.dumps(stale))
    assert daemon.status(state_dir) is None
    # a live pid that is not the daemon (its pid reused): its "endpoint" does not answer as that pid
    (state_dir / "plane.json").write_text(json.dumps(stale | {"pid": os.getpid()}))
    assert daemon.status(state_dir) is None
    (state_dir / "plane.json").write_text(json.dumps(stale))
    assert daemon.stop(state_dir) is False
    assert not (state_dir / "plane.json").exists()


def test_a_daemon_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    """Here: another daemon (this test) holds the directory's lifetime lock, so the new one exits at once."""
    starting: list[int] = []
    with (tmp_path / "plane.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(daemon.PlaneStartFailed) as failed:
            daemon.ensure_running(tmp_path, timeout_s=60, on_starting=lambda: starting.append(1))
    assert starting == [1]
    assert "exited with 2 while starting" in str(failed.value)
    assert "another daemon holds" in str(failed.value)  # the log's last lines are quoted
    assert daemon.status(tmp_path) is None and not (tmp_path / "plane.json").exists()
