"""Faults injected into the update workflow (docs/reliability.md, docs/updates.md).

One lean plane for the module (``update_plane``: 2,000 readings, two verification attempts). Every case takes the
invariants' snapshot first, injects one fault, runs, asserts what docs/updates.md promises for it (the error, the
rollback, the release that runs, the lock) and every invariant, then records its row (last).

Where a fault must hit a given state, the case waits for the execution to enter the state before it (the history,
polled) or holds a host command at a gate (``Gate``): nothing sleeps."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest

from opsctl.local import faults
from opsctl.local.execution import Execution
from opsctl.local.host import LocalHost
from opsctl.local.plane import LocalPlane
from tests.faults import invariants, matrix
from tests.faults.gates import function_timeout
from tests.integration.conftest import Gate, update_plane

#: every case publishes versions above the last one (the plane's hosts start at v1.2.0)
_minor = itertools.count(30)
#: releases with a migration: every later release withdraws it (a rolled-back migration is never applied twice)
_withdrawn: list[str] = []


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        yield local_plane


def _publish(plane: LocalPlane, host: str, **release: Any) -> str:
    version = f"v1.{next(_minor)}.0"
    plane.host(host).publish_release(version, withdraw=tuple(_withdrawn), **release)
    if release.get("migration_sql"):
        _withdrawn.append(version)
    return version


def _running(plane: LocalPlane, host: str) -> tuple[str, str | None]:
    """The checked-out release and the release the backend container runs."""
    local = plane.host(host)
    return local.app_version(), (local.deployed_release() or {}).get("version")


def _update_objects(ex: Execution, host: str) -> Callable[[str], bool]:
    """What an update adds by design: its pre-update backup (dump + manifest) and its deploy logs."""
    plan = (ex.state_output("ValidateInput") or {}).get("plan", {})
    plan = plan.get("update", plan)  # the rollback workflow's plan carries the update's under "update"
    backup = (ex.state_output("BackupManifest") or {}).get("backup", {})
    update_id, backup_id = str(plan.get("update_id", "?")), str(backup.get("backup_id", "?"))

    def expected(key: str) -> bool:
        return key.startswith(f"deploy-logs/{host}/{update_id}/") or (
            key.startswith(f"backups/{host}/") and backup_id in key
        )

    return expected


def _deployments(plane: LocalPlane, host: str) -> int:
    return int(
        plane.dynamodb.query(
            TableName=plane.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": "DEPLOY#"}},
            Select="COUNT",
        )["Count"]
    )


def _last_deployment(plane: LocalPlane, host: str) -> dict[str, Any]:
    """The newest item of the host's deployment history."""
    items = plane.dynamodb.query(
        TableName=plane.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": "DEPLOY#"}},
        ScanIndexForward=False,
        Limit=1,
    )["Items"]
    outcome: dict[str, Any] = json.loads(items[0]["outcome"]["S"])
    return outcome


def _wait_entered(plane: LocalPlane, arn: str, state: str, timeout_s: float = 180) -> None:
    """Until the execution has entered ``state`` (it must not end before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        history = plane.history(arn)
        if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in history):
            return
        ended = [e["type"] for e in history if e["type"].startswith("Execution") and e["type"] != "ExecutionStarted"]
        assert not ended, f"the execution ended ({ended}) before it entered {state}"
        assert time.monotonic() < deadline, f"the execution never entered {state}"
        time.sleep(0.02)


def _wait_error(plane: LocalPlane, arn: str, error: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while error not in invariants.history_errors(Execution(arn, "", "RUNNING", history=plane.history(arn))):
        assert time.monotonic() < deadline, f"no {error} in the history"
        time.sleep(0.05)


@contextlib.contextmanager
def _gates(host: LocalHost, command: str, count: int) -> Iterator[list[Gate]]:
    """``count`` gates for the next ``count`` calls of ``command`` on ``host``, in order: ``gates[i]`` holds the
    i-th call (``advance``: the fault moves to the next gate once a call is held)."""
    gates = [Gate(host.state_dir / f"gate-{command}-{uuid.uuid4().hex[:8]}") for _ in range(count)]
    host.set_fault(command, {"wait_for": str(gates[0].path)})
    try:
        yield gates
    finally:
        host.set_fault(command, None)
        for gate in gates:
            gate.release()


def _advance(host: LocalHost, command: str, gates: list[Gate], index: int) -> None:
    """Call ``index`` of ``command`` is held at its gate: the next call is held at the next gate (or runs free);
    then call ``index`` is let go."""
    gates[index].wait_held()
    following = gates[index + 1].path if index + 1 < len(gates) else None
    host.set_fault(command, {"wait_for": str(following)} if following else None)
    gates[index].release()


def _body(request: AWSPreparedRequest) -> bytes:
    body = request.body
    if isinstance(body, str):
        return body.encode()
    return body if isinstance(body, bytes) else b""


# -- verification failing after the change -------------------------------------------------------------------------


def test_verification_fails_after_an_update_without_migrations(plane: LocalPlane) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    running = _running(plane, host)
    version = _publish(plane, host, healthy=False)

    ex = plane.run("update", {"host": host, "version": version})

    assert "was NOT restored" in (ex.cause or "") and "VerificationFailed" in (ex.cause or "")
    assert "RestoreDatabase" not in ex.state_names()
    assert _running(plane, host) == running, "the release that ran before runs again"
    held = invariants.check(
        plane, before, ex, end="FAILED RolledBack", new_objects=_update_objects(ex, host), notification="ROLLED BACK"
    )
    matrix.record(
        "test_verification_fails_after_an_update_without_migrations",
        fault="the new release fails verify-deployment.sh (no migration)", workflow="update", state="Verify",
        transport=matrix.transport_of(host), end_state="FAILED RolledBack: old release runs, database untouched",
        invariants=held,
    )  # fmt: skip


def test_verification_fails_after_an_update_whose_migration_ran(plane: LocalPlane) -> None:
    host = "demo-ssm"
    before = invariants.snapshot(plane, host)
    running = _running(plane, host)
    asides_before = {a.name for a in plane.asides(host)}
    version = _publish(
        plane, host, healthy=False, migration_sql="ALTER TABLE sensors ADD COLUMN broken_note text; DELETE FROM alerts;"
    )

    ex = plane.run("update", {"host": host, "version": version})

    assert "restored from the pre-update backup" in (ex.cause or ""), ex.cause
    assert "RestoreDatabase" in ex.state_names()
    assert _running(plane, host) == running, "the release that ran before runs again"
    # the restore by swap keeps the post-migration database aside (catalogued, dropped by drop-asides when due)
    asides = {a.name for a in plane.asides(host)} - asides_before
    assert len(asides) == 1, asides
    held = invariants.check(
        plane, before, ex, end="FAILED RolledBack", data=before.digest, new_objects=_update_objects(ex, host),
        new_databases=asides.__contains__,
        # the restore is an execution of its own, on the update's lock: it says it replaced the database, the update
        # says it rolled back (and names the restore's aside)
        notification=["restore succeeded", "update ROLLED BACK"],
    )  # fmt: skip
    plane.drop_asides(host)
    matrix.record(
        "test_verification_fails_after_an_update_whose_migration_ran",
        fault="the new release fails verify-deployment.sh after its migration changed schema and rows",
        workflow="update", state="Verify", transport=matrix.transport_of(host),
        end_state="FAILED RolledBack: old release runs, pre-update database restored (migrated one kept aside)",
        invariants=held,
    )  # fmt: skip


# -- the transport lost ---------------------------------------------------------------------------------------------


def test_ssh_dropped_after_the_change_is_retried(plane: LocalPlane) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    version = _publish(plane, host)
    arn = plane.start_execution("update", {"host": host, "version": version})
    try:
        _wait_entered(plane, arn, "Checkout")  # the backup's dumps are done: the next pg_dump is SchemaAfter's
        plane.host(host).set_fault("pg_dump", {"drop_connection_after_bytes": 1, "times": 1})
        ex = plane.wait(arn, "update")
    finally:
        plane.host(host).set_fault("pg_dump", None)

    assert invariants.history_errors(ex).count("HostConnectionLost") == 1, invariants.history_errors(ex)
    assert _running(plane, host) == (version, version)
    held = invariants.check(
        plane, before, ex, end="SUCCEEDED", new_objects=_update_objects(ex, host), notification="update succeeded"
    )
    matrix.record(
        "test_ssh_dropped_after_the_change_is_retried",
        fault="SSH session killed mid-command once, after the new release was deployed", workflow="update",
        state="SchemaAfter", transport="ssh", end_state="SUCCEEDED (the step was retried)", invariants=held,
    )  # fmt: skip


def test_ssm_agent_offline_during_the_deployment(plane: LocalPlane) -> None:
    host = "demo-ssm"
    local = plane.host(host)
    before = invariants.snapshot(plane, host)
    running = _running(plane, host)
    version = _publish(plane, host)
    with _gates(local, "pg_isready", 2) as gates:
        arn = plane.start_execution("update", {"host": host, "version": version})
        _advance(local, "pg_isready", gates, 0)  # the pre-update backup's preflight
        gates[1].wait_held()  # the deployment, after the checkout
        plane.set_ssm_online(host, False)
        gates[1].release()
        try:
            ex = plane.wait(arn, "update")
        finally:
            plane.set_ssm_online(host, True)

    # the deployment that was running finishes on the host (the local agent reports it although offline: in AWS the
    # Deploy state would wait for the agent instead, until the state's timeout; the end is the same), then neither
    # the verification nor the rollback's first step can be sent: the update stops where docs/updates.md says,
    # RollbackFailed, the services left as they are (the new release, verified by nobody) and the lock kept
    assert invariants.history_errors(ex) == ["HostUnreachable"] * 8, invariants.history_errors(ex)
    assert ex.state_names()[-5:-3] == ["RollbackDown", "RollbackFailed"]
    assert "docs/runbooks.md" in (ex.cause or ""), ex.cause
    assert _running(plane, host) == (version, version) != running
    held = invariants.check(
        plane, before, ex, end="FAILED RollbackFailed", new_objects=_update_objects(ex, host),
        notification="ROLLBACK FAILED", kept_locks={host: ex.arn},
    )  # fmt: skip
    # the runbook: the host is reachable again, the lock is released by hand
    plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host}"}, "sk": {"S": "LOCK"}})
    matrix.record(
        "test_ssm_agent_offline_during_the_deployment",
        fault="the SSM agent goes offline while the new release deploys", workflow="update",
        state="Deploy (then Verify, RollbackDown)",
        transport="ssm", end_state="FAILED RollbackFailed: lock kept until its lease ends, runbook named",
        invariants=held,
    )  # fmt: skip


# -- a Lambda timing out ----------------------------------------------------------------------------------------------


def test_a_lambda_timing_out_after_the_change_rolls_back(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    before = invariants.snapshot(plane, host)
    running = _running(plane, host)
    version = _publish(plane, host)
    arn = plane.start_execution("update", {"host": host, "version": version})
    _wait_entered(plane, arn, "Checkout")
    with function_timeout("SchemaFingerprint", 1), _gates(local, "pg_dump", 1) as gates:
        gates[0].wait_held()  # SchemaAfter's pg_dump: its invocation runs into the function's timeout
        _wait_error(plane, arn, "Sandbox.Timedout")
    ex = plane.wait(arn, "update")

    assert "Sandbox.Timedout" in (ex.cause or ""), ex.cause
    assert _running(plane, host) == running, "the release that ran before runs again"
    held = invariants.check(
        plane, before, ex, end="FAILED RolledBack", new_objects=_update_objects(ex, host), notification="ROLLED BACK"
    )
    matrix.record(
        "test_a_lambda_timing_out_after_the_change_rolls_back",
        fault="the SchemaFingerprint Lambda times out mid-command (Sandbox.Timedout)", workflow="update",
        state="SchemaAfter", transport="ssh", end_state="FAILED RolledBack: old release runs", invariants=held,
    )  # fmt: skip


# -- AWS services failing -----------------------------------------------------------------------------------------


def test_sns_down_does_not_change_the_outcome_of_an_update(plane: LocalPlane) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    deployments = _deployments(plane, host)
    version = _publish(plane, host)
    down = faults.ApiFault("sns", "Publish", "InternalError", times=None)
    with faults.armed(down):
        ex = plane.run("update", {"host": host, "version": version})

    assert down.hits >= 3, "the notification was tried (the SDK's and the state's retries)"
    assert _running(plane, host) == (version, version)
    assert _deployments(plane, host) == deployments + 1
    # SNS is down: no notification can arrive (and none is expected); everything else holds
    held = invariants.check(plane, before, ex, end="SUCCEEDED", new_objects=_update_objects(ex, host))
    matrix.record(
        "test_sns_down_does_not_change_the_outcome_of_an_update",
        fault="SNS Publish answers 500 InternalError on every call", workflow="update", state="NotifySuccess",
        transport="ssh", end_state="SUCCEEDED, recorded, lock free (no notification: SNS is down)",
        invariants=(*held[:-1], "no notification (SNS down)"),
    )  # fmt: skip


def test_lambda_failing_the_record_task_of_a_rollback(plane: LocalPlane) -> None:
    """The rollback workflow (docs/updates.md) undoing the update above; the record task's function fails at the
    Lambda service on every invocation (ServiceException, HTTP 500: Lambda API reference, Invoke, Errors): the state
    retries Lambda.ServiceException, then the rollback, which happened and was verified, succeeds all the same and
    says it is not recorded."""
    host = "demo"
    deployment = _last_deployment(plane, host)
    before = invariants.snapshot(plane, host)
    lost = faults.ApiFault(
        "lambda", "Invoke", "ServiceException", times=None, matches=lambda request: "UpdateRecord" in request.url
    )
    with faults.armed(lost):
        ex = plane.run("rollback", {"host": host, "confirm": host, "reason": "fault matrix"})

    # named as Step Functions names it (opsctl/local/moto_patches.py), so the state's Retry took it
    assert invariants.history_errors(ex).count("Lambda.ServiceException") == 4, invariants.history_errors(ex)
    assert ex.output is not None and ex.output["recorded"] is False, ex.output
    assert _running(plane, host) == (deployment["from_version"],) * 2, "back at the version before the update"
    held = invariants.check(
        plane, before, ex, end="SUCCEEDED", new_objects=_update_objects(ex, host), notification="rollback succeeded"
    )
    assert lost.hits >= 4
    assert "NOT recorded" in plane.notifications()[-1]["Message"]
    matrix.record(
        "test_lambda_failing_the_record_task_of_a_rollback",
        fault="Lambda Invoke of the record task answers ServiceException (500) every time", workflow="rollback",
        state="RecordRollback", transport="ssh",
        end_state="SUCCEEDED (rolled back, verified); output and notification say NOT recorded", invariants=held,
    )  # fmt: skip


def test_dynamodb_throttling_the_deployment_record(plane: LocalPlane) -> None:
    host = "demo"
    before = invariants.snapshot(plane, host)
    deployments = _deployments(plane, host)
    version = _publish(plane, host)
    throttled = faults.ApiFault(
        "dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=None,
        matches=lambda request: b"DEPLOY#" in _body(request),
    )  # fmt: skip
    with faults.armed(throttled):
        ex = plane.run("update", {"host": host, "version": version})

    assert throttled.hits > 1, "the SDK retried the throttled write"
    assert ex.output is not None and ex.output["recorded"] is False, ex.output
    assert _running(plane, host) == (version, version), "the deployed release stays: it was verified"
    assert _deployments(plane, host) == deployments
    held = invariants.check(
        plane, before, ex, end="SUCCEEDED", new_objects=_update_objects(ex, host), notification="update succeeded"
    )
    notice = plane.notifications()[-1]["Message"]
    assert "NOT recorded" in notice, notice
    matrix.record(
        "test_dynamodb_throttling_the_deployment_record",
        fault="DynamoDB throttles every PutItem of the deployment record", workflow="update",
        state="RecordDeployment", transport="ssh",
        end_state="SUCCEEDED; the notification says the history has no record of it", invariants=held,
    )  # fmt: skip


# -- aborted after the change -------------------------------------------------------------------------------------


def test_an_update_aborted_mid_deployment(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    before = invariants.snapshot(plane, host)
    running = _running(plane, host)
    version = _publish(plane, host)
    with _gates(local, "pg_isready", 2) as gates:
        arn = plane.start_execution("update", {"host": host, "version": version})
        _advance(local, "pg_isready", gates, 0)  # the pre-update backup's preflight
        gates[1].wait_held()  # the deployment job: checked out, images built, containers not yet recreated
        janitor = plane.abort(arn)
    ex = plane.wait(arn, "update")

    # docs/updates.md: an aborted update keeps its lock until the lease ends (the host may be between two
    # versions: docs/runbooks.md), its host job is stopped, the janitor says so
    assert "lock is kept" in janitor["reason"], janitor
    assert janitor["undone"] or janitor["cancelled_commands"], janitor
    assert local.app_version() == version and _running(plane, host)[1] == running[1], "checked out, not deployed"
    held = invariants.check(
        plane, before, ex, end="ABORTED", new_objects=_update_objects(ex, host), notification="update ABORTED",
        kept_locks={host: ex.arn},
    )  # fmt: skip
    plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host}"}, "sk": {"S": "LOCK"}})
    matrix.record(
        "test_an_update_aborted_mid_deployment",
        fault="an operator aborts the update while its deployment job runs", workflow="update", state="Deploy",
        transport="ssh", end_state="ABORTED: deploy job stopped, lock kept until its lease ends (runbook)",
        invariants=held,
    )  # fmt: skip
