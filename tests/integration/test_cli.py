"""opsctl against the local plane, through typer's test runner: the same commands an operator types, the same
boto3 calls as against AWS (the plane's clients stand in for the deployed stacks, found by their outputs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from opsctl import session
from opsctl.backend import Backend
from opsctl.cli import app
from opsctl.cli_schemas import BackupRow, DeploymentRow, ExecutionDocument, ExecutionRow
from opsctl.inputs import INPUT_MODELS
from opsctl.local.daemon_process import outputs_of
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import sshd_plane, verified_backup

HOST = "demo"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane(hosts=("demo",), ssm_hosts=()) as local_plane:
        yield local_plane


@pytest.fixture(autouse=True)
def backend(plane: LocalPlane, monkeypatch: pytest.MonkeyPatch) -> Backend:
    # the outputs the background plane publishes (the stacks' keys), from this in-process plane
    outputs = outputs_of(plane, INPUT_MODELS)
    chosen = Backend(client=plane.client, outputs=outputs, where="the test plane", notifications=plane.notifications)
    monkeypatch.setattr(session, "BACKEND_OVERRIDE", lambda _: chosen)
    return chosen


def opsctl(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    if code >= 2:  # a refusal is one line on stderr, never a traceback
        assert result.stderr.startswith("opsctl: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stdout


def test_start_backup_wait_follows_it_to_its_outcome_and_json_matches_the_schema() -> None:
    text = opsctl("start", "backup", "--host", HOST, "--reason", "cli test", "--wait")
    assert "StreamDump" in text or "Dump" in text, text
    assert "=> SUCCEEDED" in text and "backup_id: " in text

    document = json.loads(opsctl("--json", "start", "backup", "--host", HOST, "--wait"))
    execution = ExecutionDocument.model_validate(document)
    assert execution.status == "SUCCEEDED" and execution.workflow == "backup"
    assert execution.input["host"] == HOST and execution.input["trigger"] == "console"
    assert execution.output["backup_id"] and execution.next_steps == []
    tasks = [state for state in execution.states if state.type == "Task"]
    assert tasks and all(state.status == "succeeded" and state.exited is not None for state in tasks)


def test_executions_show_and_backups_list_what_ran(plane: LocalPlane) -> None:
    started = json.loads(opsctl("start", "backup", "--host", HOST, "--json"))
    name = started["execution_arn"].rsplit(":", 1)[-1]
    assert plane.wait(started["execution_arn"], "backup").status == "SUCCEEDED"
    shown = json.loads(opsctl("show", name, "--json", "--all"))
    assert shown["execution_arn"] == started["execution_arn"]

    rows = [
        ExecutionRow.model_validate(row) for row in json.loads(opsctl("executions", "--workflow", "backup", "--json"))
    ]
    assert name in [row.name for row in rows] and {row.host for row in rows} == {HOST}
    assert "backup" in opsctl("executions", "--host", HOST)

    backups = [BackupRow.model_validate(row) for row in json.loads(opsctl("backups", "--host", HOST, "--json"))]
    assert backups and backups[0].host == HOST and backups[0].size_bytes > 0 and backups[0].compression
    check = json.loads(
        opsctl("--json", "start", "test-restore", "--host", HOST, "--backup-id", backups[0].backup_id, "--wait")
    )
    assert check["status"] == "SUCCEEDED"
    verified = [BackupRow.model_validate(row) for row in json.loads(opsctl("backups", "--json"))]
    assert next(row for row in verified if row.backup_id == backups[0].backup_id).verification == "passed"
    table = opsctl("backups", "--host", HOST)
    assert backups[0].backup_id in table and "passed" in table


def test_a_failed_execution_exits_1_and_says_what_to_do_next() -> None:
    # restore without its confirmation: the workflow refuses it (InvalidInput), nothing is touched
    text = opsctl("start", "restore", "--host", HOST, "--backup-id", "latest-verified", "--wait", code=1)
    assert "=> FAILED" in text and "InvalidInput" in text and "next: fix the input" in text
    failed = json.loads(opsctl("executions", "--workflow", "restore", "--status", "FAILED", "--json"))
    shown = opsctl("show", failed[0]["name"])
    assert "error    InvalidInput" in shown and "cause    " in shown


def test_reject_answers_a_restore_waiting_for_approval(plane: LocalPlane) -> None:
    verified_backup(plane, HOST)  # what latest-verified picks (this test does not rely on the others)
    target = plane.target(HOST)
    plane.update_target(HOST, restore=target.restore.model_copy(update={"approval": True}).model_dump())
    try:
        started = json.loads(
            opsctl(
                "--json",
                "start",
                "restore",
                "--host",
                HOST,
                "--backup-id",
                "latest-verified",
                "--confirm",
                "frostguard",
            )
        )
        arn = started["execution_arn"]
        for _ in range(600):
            if plane.pending_approval(arn):
                break
            time.sleep(0.1)
        assert plane.pending_approval(arn)
        assert "rejected" in opsctl("reject", arn.rsplit(":", 1)[-1], "--reason", "not today")
        ended = plane.wait(arn, "restore")
        assert ended.status == "FAILED" and ended.error == "ApprovalRejected"
        opsctl("approve", arn, code=3)  # answered already: nothing pending
    finally:
        plane.update_target(HOST, restore=target.restore.model_dump())


def test_deployments_list_the_update_history(plane: LocalPlane) -> None:
    assert json.loads(opsctl("deployments", "--host", HOST, "--json")) == []
    assert "no deployments recorded for demo" in opsctl("deployments", "--host", HOST)
    plane.host(HOST).publish_release("v1.3.0")  # the host runs v1.2.0
    update = json.loads(opsctl("--json", "start", "update", "--host", HOST, "--version", "v1.3.0", "--wait"))
    assert update["status"] == "SUCCEEDED", update
    rows = [DeploymentRow.model_validate(row) for row in json.loads(opsctl("deployments", "--json"))]
    assert [(row.host, row.to_version, row.outcome) for row in rows] == [(HOST, "v1.3.0", "succeeded")]
    assert "v1.3.0" in opsctl("deployments")


def test_unknown_things_are_one_line_and_their_exit_codes() -> None:
    opsctl("show", "no-such-execution", code=3)
    opsctl("executions", "--workflow", "nope", code=2)
