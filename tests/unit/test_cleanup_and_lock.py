from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from freshtrack_ops.adapters.dynamo import DynamoDeploymentHistory, DynamoLockTable
from freshtrack_ops.backup.cleanup import cleanup_backup
from freshtrack_ops.errors import LockHeld, LockStoreUnavailable
from freshtrack_ops.explain import METRIC_OF, CaughtError, ExplainEvent, explain
from freshtrack_ops.lock_janitor import KEEP_LOCKED_PURPOSES, ExecutionEnded, release_orphaned_lock
from freshtrack_ops.models import CleanupEvent
from freshtrack_ops.update.models import DeploymentOutcome
from opsctl.local.ops_table import create_ops_table
from tests.unit.fakes import FakeStore
from tests.unit.test_stream import PLAN


def test_cleanup_aborts_uploads_and_deletes_a_dump_without_manifest() -> None:
    store = FakeStore()
    store.start_upload(PLAN.dump_key, content_type="x", metadata={})
    store.objects[PLAN.dump_key] = b"PGDMP..."
    result = cleanup_backup(CleanupEvent(plan=PLAN), store)
    assert result.aborted_uploads == 1
    assert result.deleted_objects == [PLAN.dump_key]
    assert PLAN.dump_key not in store.objects


def test_an_error_is_named_from_the_lambda_envelope_or_step_functions_own_words() -> None:
    envelope = json.dumps({"errorType": "HostConnectionLost", "errorMessage": "demo: dropped"})
    explained = explain(ExplainEvent(workflow="backup", outcome="failed", error=CaughtError(Error="X", Cause=envelope)))
    assert (explained.error_name, explained.error_cause) == ("HostConnectionLost", "demo: dropped")
    timed_out = explain(ExplainEvent(workflow="restore", outcome="failed", error=CaughtError(Error="States.Timeout")))
    assert timed_out.error_name == "TimedOut", "a Fail state may not raise States.*"
    assert "timeout" in timed_out.error_cause


def test_each_outcome_counts_under_its_own_metric() -> None:
    assert set(METRIC_OF) == {"rejected", "failed", "reverted", "revert-failed"}
    assert len(set(METRIC_OF.values())) == len(METRIC_OF)


def test_cleanup_never_deletes_a_backup_that_has_its_manifest() -> None:
    store = FakeStore(objects={PLAN.dump_key: b"PGDMP", PLAN.manifest_key: b"{}"})
    result = cleanup_backup(CleanupEvent(plan=PLAN), store)
    assert result.deleted_objects == []
    assert set(store.objects) == {PLAN.dump_key, PLAN.manifest_key}


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ops_table(client, "ops")
        yield client


def test_lock_is_exclusive_reentrant_and_released_only_by_its_owner(table: Any) -> None:
    now = [1_000_000.0]
    locks = DynamoLockTable(table, "ops", clock=lambda: now[0])
    assert locks.acquire("demo", "exec-a", 600, "backup") == 1_000_600
    with pytest.raises(LockHeld, match="exec-a"):
        locks.acquire("demo", "exec-b", 600, "restore")
    assert locks.acquire("demo", "exec-a", 600, "backup")  # same owner: retry-safe
    assert locks.acquire("other", "exec-b", 600, "backup")  # other hosts are independent
    assert locks.release("demo", "exec-b") is False
    assert locks.release("demo", "exec-a") is True
    assert locks.release("demo", "exec-a") is False
    assert locks.acquire("demo", "exec-b", 600, "backup")


@pytest.mark.parametrize(
    ("code", "named"),
    [("ProvisionedThroughputExceededException", True), ("ThrottlingException", True), ("InternalServerError", True),
     ("ServiceUnavailable", True), ("RequestLimitExceeded", True), ("ValidationException", False),
     ("AccessDeniedException", False)],
)  # fmt: skip
def test_a_lock_write_still_throttled_after_the_sdk_is_lock_store_unavailable(code: str, named: bool) -> None:
    """What the lock states retry (LOCK_STORE_RETRY) is only what a later attempt may get past; a refusal that
    would be refused again (a bad request, a missing permission) stays the SDK's error."""
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    locks = DynamoLockTable(client, "ops", clock=lambda: 1_000_000.0)
    with Stubber(client) as stub:
        stub.add_client_error("put_item", service_error_code=code, http_status_code=400)
        stub.add_client_error("delete_item", service_error_code=code, http_status_code=500)
        expected: type[Exception] = LockStoreUnavailable if named else ClientError
        with pytest.raises(expected) as acquired:
            locks.acquire("demo", "exec-a", 600, "backup")
        with pytest.raises(expected) as released:
            locks.release("demo", "exec-a")
    if named:
        assert str(acquired.value) == f"host 'demo': the lock acquire still answered {code} after the SDK's attempts"
        assert "release" in str(released.value)
    else:
        assert not isinstance(acquired.value, LockStoreUnavailable)
        assert not isinstance(released.value, LockStoreUnavailable)


def test_an_expired_lease_can_be_taken_over(table: Any) -> None:
    now = [1_000_000.0]
    locks = DynamoLockTable(table, "ops", clock=lambda: now[0])
    locks.acquire("demo", "crashed-exec", 60, "backup")
    now[0] += 61
    assert locks.acquire("demo", "exec-new", 60, "backup") == 1_000_121
    assert locks.release("demo", "crashed-exec") is False


def _ended(status: str, execution: str, host: str = "demo") -> ExecutionEnded:
    return ExecutionEnded.model_validate(
        {"executionArn": execution, "status": status, "input": json.dumps({"host": host})}
    )


def test_janitor_frees_the_lock_of_an_aborted_backup_only(table: Any) -> None:
    locks = DynamoLockTable(table, "ops")
    locks.acquire("demo", "exec-aborted", 600, "backup")
    assert not release_orphaned_lock(_ended("SUCCEEDED", "exec-aborted"), locks).released
    assert not release_orphaned_lock(_ended("ABORTED", "exec-other"), locks).released
    assert locks.holder("demo") == ("exec-aborted", "backup")
    result = release_orphaned_lock(_ended("ABORTED", "exec-aborted"), locks)
    assert result.released and result.host == "demo"
    assert locks.holder("demo") is None


@pytest.mark.parametrize("purpose", ["restore", "update", "rollback"])
def test_janitor_keeps_the_lock_of_an_interrupted_restore_update_or_rollback(table: Any, purpose: str) -> None:
    locks = DynamoLockTable(table, "ops")
    locks.acquire("demo", "exec-interrupted", 600, purpose)
    result = release_orphaned_lock(_ended("TIMED_OUT", "exec-interrupted"), locks)
    assert not result.released
    assert "runbooks" in result.reason and f"interrupted {purpose}" in result.reason
    assert locks.holder("demo") == ("exec-interrupted", purpose)


def test_janitor_frees_the_lock_of_a_restore_aborted_before_it_touched_the_live_side(table: Any) -> None:
    """A restore holds its lock as restore-verify until it is about to stop the services or replace the database
    (restore.asl.json LockForSwap/LockForReplace): aborted before, the host is as it was and the lock goes."""
    locks = DynamoLockTable(table, "ops")
    locks.acquire("demo", "exec-verifying", 600, "restore-verify")
    result = release_orphaned_lock(_ended("ABORTED", "exec-verifying"), locks)
    assert result.released and locks.holder("demo") is None
    locks.acquire("demo", "exec-swapping", 600, "restore-verify")
    locks.acquire("demo", "exec-swapping", 600, "restore")  # taken again, by its owner, before the first change
    assert not release_orphaned_lock(_ended("ABORTED", "exec-swapping"), locks).released
    assert locks.holder("demo") == ("exec-swapping", "restore")


def test_the_restore_takes_its_lock_again_as_restore_before_each_first_change() -> None:
    definition = json.loads((Path(__file__).parents[2] / "state_machines" / "restore.asl.json").read_text())
    states = definition["States"]
    assert states["AcquireLock"]["Parameters"]["purpose"] == "restore-verify"
    assert "restore-verify" not in KEEP_LOCKED_PURPOSES and "restore" in KEEP_LOCKED_PURPOSES
    for mark, before in (("LockForSwap", "StopBeforeLoad"), ("LockForReplace", "StopServices")):
        assert states[mark]["Parameters"] | {"purpose": "restore"} == states[mark]["Parameters"]
        assert states[mark]["Next"] == before
    assert states["SwapPrepare"]["Next"] == "LockForSwap"
    assert states["VerifyAndSafetyBackup"]["Next"] == "LockForReplace"


@pytest.mark.parametrize("workflow", ["update", "rollback"])
def test_janitor_frees_the_lock_of_an_update_or_rollback_aborted_before_its_first_change(
    table: Any, workflow: str
) -> None:
    """An update or a rollback holds its lock as <workflow>-prepare through its preflight and pre-change backup, and
    takes it again as <workflow> in LockForChange, just before it changes the host: aborted before, the host is as it
    was and the lock goes; aborted after, it is kept (the code, containers or database may be between versions)."""
    locks = DynamoLockTable(table, "ops")
    locks.acquire("demo", "exec-preparing", 600, f"{workflow}-prepare")
    result = release_orphaned_lock(_ended("ABORTED", "exec-preparing"), locks)
    assert result.released and locks.holder("demo") is None
    locks.acquire("demo", "exec-timed-out", 600, f"{workflow}-prepare")
    assert release_orphaned_lock(_ended("TIMED_OUT", "exec-timed-out"), locks).released
    locks.acquire("demo", "exec-changing", 600, f"{workflow}-prepare")
    locks.acquire("demo", "exec-changing", 600, workflow)  # taken again, by its owner, before the first change
    assert not release_orphaned_lock(_ended("ABORTED", "exec-changing"), locks).released
    assert locks.holder("demo") == ("exec-changing", workflow)


@pytest.mark.parametrize("workflow", ["update", "rollback"])
def test_update_and_rollback_take_their_lock_again_just_before_the_first_change(workflow: str) -> None:
    """(Every path to a change passes LockForChange: tests/asl/test_asl_static.py.)"""
    definition = json.loads((Path(__file__).parents[2] / "state_machines" / f"{workflow}.asl.json").read_text())
    states = definition["States"]
    assert states["AcquireLock"]["Parameters"]["purpose"] == f"{workflow}-prepare"
    assert f"{workflow}-prepare" not in KEEP_LOCKED_PURPOSES and workflow in KEEP_LOCKED_PURPOSES
    assert states["LockForChange"]["Parameters"]["purpose"] == workflow
    first = {"update": "CodeOrImages", "rollback": "Down"}[workflow]
    assert states["BackupVerifyIsJob"]["Default"] == "LockForChange" and states["LockForChange"]["Next"] == first


def test_janitor_ignores_inputs_without_a_valid_host(table: Any) -> None:
    locks = DynamoLockTable(table, "ops")
    bad = ExecutionEnded.model_validate({"executionArn": "x", "status": "ABORTED", "input": '{"host": "A; rm"}'})
    assert release_orphaned_lock(bad, locks).host is None


def test_the_deployment_history_next_to_the_lock_reads_back_what_it_recorded_newest_first(table: Any) -> None:
    """DynamoDeploymentHistory shares the lock's module and imports the update workflow's model when it reads."""
    now = [1_000_000.0]
    history = DynamoDeploymentHistory(table, "ops", clock=lambda: now[0])
    outcomes = [
        DeploymentOutcome(
            update_id=f"demo-20260101T00000{n}Z-0000000{n}", host="demo", from_version=f"1.{n}", from_commit="a" * 40,
            to_version=f"1.{n + 1}", to_commit="b" * 40, backup_id="b", schema_changed=False, outcome="succeeded",
            duration_s=1.0,
        )
        for n in (1, 2)
    ]  # fmt: skip
    for outcome in outcomes:
        history.record_deployment(outcome)
        now[0] += 1
    assert history.deployments("demo") == outcomes[::-1]
    assert history.deployments("other") == []
