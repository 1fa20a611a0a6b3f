"""Faults injected into restores (docs/reliability.md): pg_restore failing after the live database was replaced,
PostgreSQL stopping mid-restore, and an operator aborting the execution at each state of the restore by swap.

The restore's own promise (DESIGN 7): the backup is verified before anything is touched, and the live database is
whole again after any failure. An abort runs no Catch (Step Functions ends the execution at once); the lock janitor
cleans up what the undo log names, and keeps the host lock when the restore had started changing the live side.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.config import RestoreSettings
from opsctl.local import iam
from opsctl.local.plane import Execution, LocalPlane
from tests.faults import invariants, matrix
from tests.faults.gates import lambda_gate
from tests.integration.conftest import Gate, abort_in_flight, hold, wait_notification

pytestmark = pytest.mark.integration

SSH = "demo"
CONFIRM = "frostguard"


@pytest.fixture(scope="module")
def verified() -> dict[str, dict[str, Any]]:
    """host -> (its verified backup's output, and the digest of the data it holds), taken when first needed."""
    return {}


def _verified(plane: LocalPlane, verified: dict[str, dict[str, Any]], host: str) -> dict[str, Any]:
    if host not in verified:
        backup = plane.run("backup", {"host": host, "reason": "for the restore faults"})
        assert backup.status == "SUCCEEDED" and backup.output is not None, (backup.error, backup.cause)
        digest = invariants.database_digest(plane, host)
        check = plane.run("test-restore", {"host": host, "backup_id": backup.output["backup_id"]})
        assert check.status == "SUCCEEDED", (check.error, check.cause)
        verified[host] = backup.output | {"digest": digest}
    return verified[host]


def _write_after_the_backup(plane: LocalPlane, host: str) -> None:
    """A row the backup does not have: the live data differs from the backup's, so a case sees which one is live."""
    slug = f"late-{uuid.uuid4().hex[:8]}"
    plane.host(host).sql(
        "INSERT INTO organizations (name, slug, created_at) VALUES (%s, %s, now())", ("written after the backup", slug)
    )


@contextlib.contextmanager
def _old_path(plane: LocalPlane, host: str) -> Iterator[None]:
    """``restore.swap`` off: the old path (safety backup, drop and recreate, load; revert by loading the safety)."""
    original = plane.target(host).restore
    plane.update_target(host, restore=original.model_copy(update={"swap": False}))
    try:
        yield
    finally:
        plane.update_target(host, restore=original)


def _safety_backup(plane: LocalPlane, before: invariants.Snapshot) -> Any:
    """The objects of the restore's safety backup (trigger pre-restore), which it keeps."""

    def safety(key: str) -> bool:
        manifest = key.removesuffix(".dump") + ".manifest.json" if key.endswith(".dump") else key
        return manifest not in before.objects and plane.manifest(manifest).get("trigger") == "pre-restore"

    return safety


def test_pg_restore_fails_after_the_database_was_replaced(
    plane: LocalPlane, verified: dict[str, dict[str, Any]]
) -> None:
    """The old path (restore.swap off, or too little room for a second database): the live database is dropped and
    recreated, then pg_restore fails. The workflow reverts to the safety backup it took first: the live data is
    exactly what it was before the restore (rows written after the backup included). One transport: the revert is
    the workflow's (the same states over SSM; test_restore_workflows runs it on both)."""
    host_name = SSH
    backup = _verified(plane, verified, host_name)
    _write_after_the_backup(plane, host_name)
    before = invariants.snapshot(plane, host_name)
    plane.host(host_name).set_fault("pg_restore", {"fail": True, "unless_arg": "--list", "times": 1})
    try:
        with _old_path(plane, host_name):
            request = {"host": host_name, "backup_id": backup["backup_id"], "confirm": CONFIRM}
            ex = plane.run("restore", request)
    finally:
        plane.host(host_name).set_fault("pg_restore", None)
    held = invariants.check(
        plane, before, ex, end="FAILED HostCommandFailed", new_objects=_safety_backup(plane, before),
        notification="REVERTED",
    )  # fmt: skip
    names = ex.state_names()
    assert names.index("RecreateDatabase") < names.index("RevertLoad") < names.index("RevertHealthCheck")
    assert set(plane.host(host_name).services().values()) == {"running"}
    matrix.record(
        "test_pg_restore_fails_after_the_database_was_replaced",
        fault="pg_restore fails after the live database was dropped and recreated (old path)", workflow="restore",
        state="RestoreDatabase", transport="ssh",
        end_state="FAILED HostCommandFailed, REVERTED from the safety backup", invariants=held,
    )  # fmt: skip


def test_postgres_stops_mid_restore(plane: LocalPlane, verified: dict[str, dict[str, Any]]) -> None:
    """PostgreSQL stops while the backup is being loaded into the incoming database (restore by swap), and comes back
    a moment later (a crashed container its restart policy brings back). The load fails; the live database was never
    touched. The first attempt to drop the half-loaded incoming database meets the server still down. Found by this
    case: that drop was not retried and the incoming database (a whole copy) stayed for good, behind a notification
    saying nothing changed; DropIncoming now retries (restore.asl.json)."""
    host = plane.host(SSH)
    backup = _verified(plane, verified, SSH)
    before = invariants.snapshot(plane, SSH)
    first, retry = (Gate(host.state_dir / f"gate-psql-{uuid.uuid4().hex[:8]}") for _ in range(2))
    try:
        with hold(host, "pg_restore", unless_arg="--list") as load:
            request = {"host": SSH, "backup_id": backup["backup_id"], "confirm": CONFIRM}
            arn = plane.start_execution("restore", request)
            load.wait_held()
            host.stop_database()
            host.set_fault("psql", {"wait_for": str(first.path)})  # the cleanup's first drop attempt
            load.release()
            first.wait_held()
            host.set_fault("psql", {"wait_for": str(retry.path)})  # its retry
            first.release()  # the server is still down: this attempt fails
            retry.wait_held()
            host.start_database()
            retry.release()
            ex = plane.wait(arn, "restore")
    finally:
        host.set_fault("psql", None)
        for gate in (first, retry):
            gate.release()
        host.start_database()
    held = invariants.check(plane, before, ex, end="FAILED HostCommandFailed", notification="nothing changed")
    assert invariants.history_errors(ex) == ["HostCommandFailed"] * 2, "the load, then the drop's first attempt"
    assert "SwapIn" not in ex.state_names()
    assert set(host.services().values()) == {"running"}
    matrix.record(
        "test_postgres_stops_mid_restore", fault="PostgreSQL stops mid-load (restore by swap), back before the retry",
        workflow="restore", state="LoadIncoming", transport="ssh",
        end_state="FAILED HostCommandFailed, nothing changed, incoming dropped on the retry", invariants=held,
    )  # fmt: skip


# -- an abort at each state ------------------------------------------------------------------------------------------

#: each Task state of the restore by swap (the default path) -> the task it invokes and what tells its invocation
#: apart (the event's fields), and how far the restore had got when it was stopped there:
#: "untouched": the live side is as it was (the lock is released); "half-way": the lock was taken again as restore,
#: the live database untouched but the services may be stopped; "swapped": the live database is the backup's;
#: "done": the restore had finished but for its notification
ABORT_AT: dict[str, tuple[str, dict[str, str], str]] = {
    "ValidateInput": ("RestoreValidate", {}, "untouched"),
    "RequestApproval": ("RestoreApproval", {}, "untouched"),
    "AcquireLock": ("HostLock", {"action": "acquire", "purpose": "restore-verify"}, "untouched"),
    "RestorePreflight": ("BackupPreflight", {}, "untouched"),
    "ChooseRestorePath": ("RestoreSwap", {"action": "decide"}, "untouched"),
    "SwapVerifyBackup": ("BackupVerify", {}, "untouched"),
    "CreateIncoming": ("HostDatabase", {"action": "create-incoming"}, "untouched"),
    "LockForSwap": ("HostLock", {"action": "acquire", "purpose": "restore"}, "half-way"),
    "StopServicesBeforeLoad": ("HostServices", {"action": "stop"}, "half-way"),
    "LoadIncoming": ("RestoreLoad", {}, "half-way"),
    "CountIncoming": ("RestoreCounts", {}, "half-way"),
    "RecordAside": ("RestoreSwap", {"action": "record"}, "half-way"),
    "SwapIn": ("HostDatabase", {"action": "swap-in"}, "swapped"),
    "StartServicesAfterSwap": ("HostServices", {"action": "start"}, "swapped"),
    "HealthCheckAfterSwap": ("HostHealth", {}, "swapped"),
    "ReleaseLockAfterSwap": ("HostLock", {"action": "release"}, "done"),
}


#: where the abort leaves the application stopped (the stop had run or was in flight, the start had not)
LEFT_STOPPED = frozenset({"StopServicesBeforeLoad", "LoadIncoming", "CountIncoming", "RecordAside", "SwapIn"})


def _matches(fields: dict[str, str]) -> Any:
    return lambda event: all(event.get(key) == value for key, value in fields.items())


@contextlib.contextmanager
def _approval_on(plane: LocalPlane, host: str, on: bool) -> Iterator[None]:
    original = plane.target(host).restore
    if on:
        plane.update_target(host, restore=RestoreSettings(approval=True, approval_timeout_s=600))
    try:
        yield
    finally:
        plane.update_target(host, restore=original)


def _aborted_at(plane: LocalPlane, state: str, request: dict[str, Any]) -> tuple[Execution, dict[str, Any]]:
    """Start the restore, stop it while ``state`` runs (its Lambda held at its start, then let go: Step Functions
    does not stop a Lambda it invoked), and hand the end to the janitor as EventBridge would."""
    task, fields, _ = ABORT_AT[state]
    if state == "RequestApproval":  # a state that waits for its task token (the approval): it ends at once
        seen = len(plane.notifications())
        arn = plane.start_execution("restore", request)
        wait_notification(plane, "FreshTrack restore needs approval", after=seen)
        janitor = plane.abort(arn)
        return plane.wait(arn, "restore"), janitor
    with lambda_gate(task, _matches(fields)) as gate:
        arn = plane.start_execution("restore", request)
        gate.wait_entered()
        assert invariants.ran_through(Execution(arn, "restore", "RUNNING", history=plane.history(arn)), state)
        janitor = abort_in_flight(plane, arn, gate)  # type: ignore[arg-type]
    return plane.wait(arn, "restore"), janitor


def _hand_back(plane: LocalPlane, host: str, ex: Execution) -> None:
    """What the runbook has a person do after a kept lock ("A restore that was aborted"): start the services,
    release the lock; and what drop-asides does later: drop the aside."""
    for service, status in plane.host(host).services().items():
        if status != "running":
            plane.host(host).start_service(service)
    if plane.lock_item(host) is not None:
        with iam.plane_calls():
            runtime.lock_table().release(host, ex.arn)
    if plane.asides(host):
        plane.drop_asides(host)


@pytest.mark.parametrize("state", list(ABORT_AT))
def test_restore_aborted_at_each_state(plane: LocalPlane, verified: dict[str, dict[str, Any]], state: str) -> None:
    backup = _verified(plane, verified, SSH)
    _write_after_the_backup(plane, SSH)
    before = invariants.snapshot(plane, SSH)
    phase = ABORT_AT[state][2]
    request = {"host": SSH, "backup_id": backup["backup_id"], "confirm": CONFIRM}
    with _approval_on(plane, SSH, state == "RequestApproval"):
        ex, janitor = _aborted_at(plane, state, request)
    services = plane.host(SSH).services()
    try:
        notifications = ["needs approval", "ABORTED"] if state == "RequestApproval" else ["ABORTED"]
        swapped = phase in ("swapped", "done")
        held = invariants.check(
            plane, before, ex, end="ABORTED", data=backup["digest"] if swapped else None,
            new_databases=lambda name: swapped and "_aside_" in name, notification=notifications,
            lock_kept=phase in ("half-way", "swapped"),
        )  # fmt: skip
        assert janitor["released"] is (phase == "untouched" and state not in ("ValidateInput", "RequestApproval"))
        stopped = {name for name, status in services.items() if status != "running"}
        assert stopped == ({"backend", "worker"} if state in LEFT_STOPPED else set()), services
    finally:
        _hand_back(plane, SSH, ex)
    end = {
        "untouched": "ABORTED; janitor: nothing left, lock released",
        "half-way": "ABORTED; janitor: incoming dropped, lock kept (live database untouched)",
        "swapped": "ABORTED; janitor: lock kept (live database = the backup, old one aside)",
        "done": "ABORTED after the unlock: restored, nothing left",
    }[phase]
    matrix.record(
        "test_restore_aborted_at_each_state", fault="an operator aborts the restore while this state runs",
        workflow="restore", state=state, transport="ssh", end_state=end, invariants=held, variant=state,
    )  # fmt: skip
