"""Test restore and destructive restore on the local plane: real PostgreSQL, real sshd, moto's ASL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops.config import RestoreSettings
from opsctl.local.plane import Execution, LocalPlane
from tests.integration.conftest import hold, wait_notification

pytestmark = pytest.mark.integration
SAMPLE_CHECKSUM = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM temperature_readings t"


def _snapshot(plane: LocalPlane, host_name: str) -> tuple[dict[str, int], str]:
    host = plane.host(host_name)
    return host.table_counts(), str(host.sql(SAMPLE_CHECKSUM)[0][0])


def _databases(plane: LocalPlane, host_name: str) -> set[str]:
    return {row[0] for row in plane.host(host_name).sql("SELECT datname FROM pg_database")}


def _stops(plane: LocalPlane, since: int, host_name: str) -> list[list[str]]:
    return [c for c in plane.host(host_name).commands()[since:] if "stop" in c or "down" in c]


@pytest.fixture(scope="module")
def verified_backup(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    backup = plane.run("backup", {"host": host_name, "reason": "restore tests"})
    assert backup.status == "SUCCEEDED", backup.cause
    check = plane.run("test-restore", {"host": host_name, "backup_id": backup.output["backup_id"]})  # type: ignore[index]
    assert check.status == "SUCCEEDED", check.cause
    return backup.output  # type: ignore[return-value]


def test_test_restore_verifies_and_never_touches_the_live_database(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    before = _snapshot(plane, host_name)
    databases = _databases(plane, host_name)
    commands_before = len(plane.host(host_name).commands())

    ex = plane.run("test-restore", {"host": host_name, "backup_id": verified_backup["backup_id"]})

    assert ex.status == "SUCCEEDED", ex.cause
    assert ex.output is not None and ex.output["verification"] == "passed"
    assert _snapshot(plane, host_name) == before
    assert _databases(plane, host_name) == databases, "the scratch database must be gone"
    assert _stops(plane, commands_before, host_name) == []
    manifest = plane.manifest(verified_backup["manifest_key"])
    assert manifest["verification"]["status"] == "passed"


def test_failed_test_restore_drops_its_scratch_database_and_records_the_failure(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    before = _snapshot(plane, host_name)
    databases = _databases(plane, host_name)
    plane.host(host_name).set_fault("pg_restore", {"fail": True, "unless_arg": "--list"})
    try:
        ex = plane.run("test-restore", {"host": host_name, "backup_id": verified_backup["backup_id"]})
    finally:
        plane.host(host_name).set_fault("pg_restore", None)

    assert ex.status == "FAILED"
    assert ex.error == "HostCommandFailed"
    assert _databases(plane, host_name) == databases
    assert _snapshot(plane, host_name) == before
    assert plane.manifest(verified_backup["manifest_key"])["verification"]["status"] == "failed"
    # put the verdict back for the tests that restore latest-verified
    again = plane.run("test-restore", {"host": host_name, "backup_id": verified_backup["backup_id"]})
    assert again.status == "SUCCEEDED"


@contextlib.contextmanager
def old_path(plane: LocalPlane, host_name: str) -> Iterator[None]:
    """``restore.swap`` off: the restore takes the old path (safety backup, drop, load; revert by reloading).
    The restore by swap has its own tests (test_restore_swap_workflow.py)."""
    original = plane.target(host_name).restore
    plane.update_target(host_name, restore=original.model_copy(update={"swap": False}))
    try:
        yield
    finally:
        plane.update_target(host_name, restore=original)


def test_restore_after_data_loss_brings_back_the_backup(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    backup_state = _snapshot(plane, host_name)
    host.sql("DELETE FROM temperature_readings WHERE id %% 3 = 0")
    host.sql("DELETE FROM alerts")
    assert _snapshot(plane, host_name) != backup_state

    with old_path(plane, host_name):
        ex = plane.run("restore", {"host": host_name, "backup_id": "latest-verified", "confirm": "frostguard"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None and ex.output["restored_backup_id"] == verified_backup["backup_id"]
    assert _snapshot(plane, host_name) == backup_state
    assert set(host.services().values()) == {"running"}
    assert plane.lock_item(host_name) is None
    safety = ex.output["safety_backup_id"]
    assert any(safety in key for key in plane.object_keys()), "the safety backup is kept"


def test_corrupted_backup_is_refused_before_anything_is_touched(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    backup = plane.run("backup", {"host": host_name, "reason": "to be corrupted"})
    assert backup.status == "SUCCEEDED"
    key = backup.output["dump_key"]  # type: ignore[index]
    body = bytearray(plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    plane.s3.put_object(Bucket=plane.bucket, Key=key, Body=bytes(body))
    before = _snapshot(plane, host_name)
    commands_before = len(host.commands())

    ex = plane.run(
        "restore",
        {"host": host_name, "backup_id": backup.output["backup_id"], "confirm": "frostguard"},  # type: ignore[index]
    )

    assert ex.status == "FAILED"
    assert ex.error == "BackupCorrupt"
    names = ex.state_names()
    assert "RecreateDatabase" not in names and "StopServices" not in names and "SwapIn" not in names
    assert _snapshot(plane, host_name) == before
    assert _stops(plane, commands_before, host_name) == []
    assert plane.lock_item(host_name) is None


def test_pg_restore_failing_after_the_drop_reverts_to_the_safety_backup(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    host.sql("INSERT INTO organizations (name, slug, created_at) VALUES ('written after the backup', 'late', now())")
    before = _snapshot(plane, host_name)
    before_orgs = host.sql("SELECT count(*) FROM organizations WHERE name = 'written after the backup'")
    plane.notifications()
    host.set_fault("pg_restore", {"fail": True, "unless_arg": "--list", "times": 1})
    try:
        with old_path(plane, host_name):
            ex = plane.run("restore", {"host": host_name, "backup_id": "latest-verified", "confirm": "frostguard"})
    finally:
        host.set_fault("pg_restore", None)

    assert ex.status == "FAILED"
    assert ex.error == "HostCommandFailed"
    names = ex.state_names()
    assert names.index("RecreateDatabase") < names.index("RevertLoad") < names.index("RevertStartServices")
    assert _snapshot(plane, host_name) == before, "the database must be exactly what it was before the restore"
    assert host.sql("SELECT count(*) FROM organizations WHERE name = 'written after the backup'") == before_orgs
    assert set(host.services().values()) == {"running"}
    assert plane.lock_item(host_name) is None
    reverted = [n for n in plane.notifications() if "REVERTED" in (n["Subject"] or "")]
    assert reverted and "put back from the safety backup" in reverted[-1]["Message"]


@pytest.mark.parametrize(
    ("execution_input", "field"),
    [
        ({"backup_id": "latest-verified"}, "confirm"),
        ({"backup_id": "latest-verified", "confirm": "frostguard_test"}, "confirm"),
        ({"backup_id": "{host}-20200101T000000Z-deadbeef", "confirm": "frostguard"}, "backup_id"),
        ({"confirm": "frostguard"}, "backup_id"),
    ],
)
def test_wrong_or_missing_confirmation_touches_nothing(
    plane: LocalPlane, verified_backup: dict[str, Any], execution_input: dict[str, Any], field: str, host_name: str
) -> None:
    # an earlier test's refused restore may still be finishing its safety dump (the Parallel state failed on the
    # verification; the dump's task runs on, as a Lambda would): what this request touches is counted after it
    plane.wait_idle()
    before = _snapshot(plane, host_name)
    commands_before = len(plane.host(host_name).commands())
    request = {"host": host_name} | {key: value.format(host=host_name) for key, value in execution_input.items()}
    ex = plane.run("restore", request)
    assert ex.status == "FAILED"
    assert ex.error in ("InvalidInput", "BackupNotFound")
    assert (ex.cause or "").startswith(f"{field}:")
    assert plane.host(host_name).commands()[commands_before:] == []
    assert _snapshot(plane, host_name) == before
    assert plane.lock_item(host_name) is None


def _start_waiting_restore(plane: LocalPlane, host_name: str) -> str:
    arn = plane.start_execution("restore", {"host": host_name, "backup_id": "latest-verified"})
    deadline = time.monotonic() + 30
    while not plane.pending_approval(arn):
        assert time.monotonic() < deadline, "the restore never asked for approval"
        time.sleep(0.05)
    return arn


@pytest.mark.parametrize("answer", ["reject", "timeout"])
def test_rejected_or_unanswered_approval_touches_nothing(
    plane: LocalPlane, verified_backup: dict[str, Any], answer: str, host_name: str
) -> None:
    original = plane.target(host_name).restore
    # a rejection must not race the timeout on a slow machine: only the timeout case uses a short one
    timeout_s = 2 if answer == "timeout" else 120
    plane.update_target(host_name, restore=RestoreSettings(approval=True, approval_timeout_s=timeout_s))
    before = _snapshot(plane, host_name)
    commands_before = len(plane.host(host_name).commands())
    try:
        seen = len(plane.notifications())
        arn = _start_waiting_restore(plane, host_name)
        request = wait_notification(plane, "FreshTrack restore needs approval", after=seen)
        assert "will be DROPPED" in request["Message"]
        assert "task" not in request["Message"].lower() or "token" not in request["Message"].lower()
        if answer == "reject":
            plane.answer(arn, approve=False, reason="not today")
        ex: Execution = plane.wait(arn, "restore")
    finally:
        plane.update_target(host_name, restore=original)

    assert ex.status == "FAILED"
    assert ex.error == ("ApprovalRejected" if answer == "reject" else "ApprovalTimedOut")
    assert "AcquireLock" not in ex.state_names()
    assert plane.host(host_name).commands()[commands_before:] == []
    assert _snapshot(plane, host_name) == before


def test_approved_restore_runs(plane: LocalPlane, verified_backup: dict[str, Any], host_name: str) -> None:
    original = plane.target(host_name).restore
    plane.update_target(host_name, restore=RestoreSettings(approval=True, approval_timeout_s=60))
    try:
        arn = _start_waiting_restore(plane, host_name)
        plane.answer(arn, approve=True, reason="change ticket 42")
        ex = plane.wait(arn, "restore")
    finally:
        plane.update_target(host_name, restore=original)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)


def test_backup_while_a_restore_holds_the_lock_fails_with_lock_held(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    host = plane.host(host_name)
    with hold(host, "pg_restore", unless_arg="--list") as load:  # verification's pg_restore --list runs
        restore = plane.start_execution(
            "restore", {"host": host_name, "backup_id": "latest-verified", "confirm": "frostguard"}
        )
        load.wait_held()  # the restore is loading the database: it holds the lock until the load is let go
        assert plane.lock_item(host_name) is not None
        backup = plane.run("backup", {"host": host_name, "reason": "during a restore"})
        load.release()
        restored = plane.wait(restore, "restore")
    assert backup.status == "FAILED"
    assert backup.error == "LockHeld"
    assert restored.status == "SUCCEEDED", (restored.error, restored.cause)


def test_backup_can_chain_its_own_test_restore(
    plane: LocalPlane, verified_backup: dict[str, Any], host_name: str
) -> None:
    original = plane.target(host_name).backup
    plane.update_target(host_name, backup=original.model_copy(update={"verify_after_backup": True}))
    try:
        backup = plane.run("backup", {"host": host_name, "reason": "chained verification"})
    finally:
        plane.update_target(host_name, backup=original)
    assert backup.status == "SUCCEEDED", backup.cause
    backup_id = backup.output["backup_id"]  # type: ignore[index]
    chained = [e for e in plane.executions("test-restore") if e["name"] == f"verify-{backup_id}"]
    assert len(chained) == 1
    verification = plane.wait(chained[0]["executionArn"], "test-restore")
    assert verification.status == "SUCCEEDED", verification.cause
    assert plane.manifest(backup.output["manifest_key"])["verification"]["status"] == "passed"  # type: ignore[index]
