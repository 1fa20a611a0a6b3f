"""Faults injected into backups and test restores (docs/reliability.md): each case asserts what the fault must lead
to, then every invariant (``invariants.check``), and records its row last.

The plane here is lean (2,000 readings: a dump is a few kB, one part), so each case costs a few seconds; cases
whose fault only exists on one transport run on that one, the others once per transport (``host_name``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from freshtrack_ops.backup import stream
from opsctl.local import faults
from opsctl.local.plane import Execution, LocalPlane
from state_machines import LOCK_STORE_RETRY
from tests.faults import invariants, matrix
from tests.faults.gates import function_timeout
from tests.integration.conftest import hold

pytestmark = pytest.mark.integration

SSH, SSM = "demo", "demo-ssm"
#: Step Functions' own attempts of the dump (StreamDump's Retry: UploadFailed twice more)
DUMP_ATTEMPTS = 3


def _backup_objects(ex: Execution) -> Callable[[str], bool]:
    """The objects a successful backup adds: its dump and its manifest."""
    output = ex.output or {}
    return lambda key: key in (output.get("dump_key"), output.get("manifest_key"))


def _succeeded(plane: LocalPlane, before: invariants.Snapshot, ex: Execution) -> tuple[str, ...]:
    """Every invariant of a backup that succeeded: its dump and manifest added, one success notification."""
    added = _backup_objects(ex)
    return invariants.check(plane, before, ex, end="SUCCEEDED", new_objects=added, notification="succeeded")


def test_ssh_dropped_mid_stream(plane: LocalPlane) -> None:
    before = invariants.snapshot(plane, SSH)
    plane.host(SSH).set_fault("pg_dump", {"drop_connection_after_bytes": 4_000})
    try:
        ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
    finally:
        plane.host(SSH).set_fault("pg_dump", None)
    held = invariants.check(plane, before, ex, end="FAILED HostConnectionLost", notification="FAILED")
    assert invariants.history_errors(ex).count("HostConnectionLost") == 3, "the stream is tried three times"
    matrix.record(
        "test_ssh_dropped_mid_stream", fault="SSH connection dropped after 4 kB of the dump (every attempt)",
        workflow="backup", state="StreamDump", transport="ssh", end_state="FAILED HostConnectionLost after 3 attempts",
        invariants=held,
    )  # fmt: skip


def test_s3_throttles_the_manifest_write(plane: LocalPlane) -> None:
    """The manifest is written by a Lambda task, the same on both transports: one run."""
    host_name = SSH
    before = invariants.snapshot(plane, host_name)
    slow = faults.ApiFault("s3", "PutObject", "SlowDown", times=2, matches=lambda r: "manifest" in r.url)
    with faults.armed(slow):
        ex = plane.run("backup", {"host": host_name, "reason": "fault matrix"})
    held = _succeeded(plane, before, ex)
    assert slow.hits == 2
    matrix.record(
        "test_s3_throttles_the_manifest_write", fault="S3 503 SlowDown twice on the manifest's PutObject",
        workflow="backup", state="WriteManifest", transport=matrix.transport_of(host_name),
        end_state="SUCCEEDED (the SDK retried)", invariants=held,
    )  # fmt: skip


def test_ssm_agent_offline(plane: LocalPlane) -> None:
    host = plane.host(SSM)
    before = invariants.snapshot(plane, SSM)
    commands = len(host.commands())
    plane.set_ssm_online(SSM, False)
    try:
        ex = plane.run("backup", {"host": SSM, "reason": "fault matrix"})
    finally:
        plane.set_ssm_online(SSM, True)
    held = invariants.check(plane, before, ex, end="FAILED HostUnreachable", notification="FAILED")
    assert host.commands()[commands:] == [], "no command reached the host"
    # the preflight's Retry (HostUnreachable: 3 more attempts) asked the agent four times
    assert invariants.history_errors(ex) == ["HostUnreachable"] * 4, invariants.history_errors(ex)
    matrix.record(
        "test_ssm_agent_offline", fault="SSM agent offline (ConnectionLost: every command Undeliverable)",
        workflow="backup", state="Preflight", transport="ssm",
        end_state="FAILED HostUnreachable after 4 attempts, nothing ran", invariants=held,
    )  # fmt: skip


@contextlib.contextmanager
def _dump_deadline(plane: LocalPlane, host_name: str, seconds: int) -> Iterator[None]:
    """The dump's command deadline cut to ``seconds``: over SSM the Command document's executionTimeout (a new
    document version, as an operator would deploy it); over SSH the stream's idle timeout (no output for that
    long ends the command: 300 s in the product, the same code path)."""
    if host_name == SSM:
        with plane.ssm_execution_timeout("ssm_backup_upload.sh", seconds):
            yield
        return
    idle = stream.IDLE_TIMEOUT_S
    stream.IDLE_TIMEOUT_S = float(seconds)
    try:
        yield
    finally:
        stream.IDLE_TIMEOUT_S = idle


def test_command_timeout(plane: LocalPlane, host_name: str) -> None:
    """The dump hangs (pg_dump held, no output): the command's deadline ends it, the upload is aborted."""
    before = invariants.snapshot(plane, host_name)
    with hold(plane.host(host_name), "pg_dump", unless_arg="--version"), _dump_deadline(plane, host_name, 2):
        ex = plane.run("backup", {"host": host_name, "reason": "fault matrix"})
    held = invariants.check(plane, before, ex, end="FAILED HostCommandTimeout", notification="FAILED")
    assert invariants.history_errors(ex) == ["HostCommandTimeout"], "a timeout is not retried"
    matrix.record(
        "test_command_timeout", fault="pg_dump hangs past the command's deadline (SSM executionTimeout; SSH no output)",
        workflow="backup", state="StreamDump", transport=matrix.transport_of(host_name),
        end_state="FAILED HostCommandTimeout, upload aborted", invariants=held,
    )  # fmt: skip


def _part_upload_faults(host_name: str, code: str, status: int, times: int | None) -> tuple[Any, Any]:
    """The dump's first part refused with ``code``: over SSH the task's own UploadPart call (botocore sees S3's
    error response), over SSM the host's presigned PUT of part 1 (curl sees it)."""
    api = faults.ApiFault("s3", "UploadPart", code, times=times if host_name == SSH else 0)
    part = {"partNumber": "1"}
    transfer = faults.TransferFault("PUT", code, status, query=part, times=times if host_name == SSM else 0)
    return api, transfer


def test_s3_5xx_on_the_upload_is_retried(plane: LocalPlane, host_name: str) -> None:
    """S3 answers 503 SlowDown twice for the dump's part (clients retry with back-off:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html). Over SSH botocore retries the
    UploadPart (standard mode: 3 attempts), over SSM curl does (``--retry 3``: 503 is one of its transient statuses)."""
    before = invariants.snapshot(plane, host_name)
    api, transfer = _part_upload_faults(host_name, "SlowDown", 503, times=2)
    with faults.armed(api), faults.transfers_armed(transfer):
        ex = plane.run("backup", {"host": host_name, "reason": "fault matrix"})
    held = _succeeded(plane, before, ex)
    assert api.hits + transfer.hits == 2
    assert invariants.history_errors(ex) == [], "retried inside the task: no attempt failed"
    matrix.record(
        "test_s3_5xx_on_the_upload_is_retried", fault="S3 503 SlowDown twice on the dump's UploadPart",
        workflow="backup", state="StreamDump", transport=matrix.transport_of(host_name),
        end_state="SUCCEEDED (SDK / curl retried)", invariants=held,
    )  # fmt: skip


def test_s3_refuses_a_part(plane: LocalPlane, host_name: str) -> None:
    """S3 refuses the part for good: 400 BadDigest (its Content-MD5 does not match what arrived, S3 error codes:
    https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) on every attempt. Not retried by the SDK
    nor curl (a 4xx); the workflow tries the dump three times (UploadFailed), then aborts the upload."""
    before = invariants.snapshot(plane, host_name)
    api, transfer = _part_upload_faults(host_name, "BadDigest", 400, times=None)
    with faults.armed(api), faults.transfers_armed(transfer):
        ex = plane.run("backup", {"host": host_name, "reason": "fault matrix"})
    held = invariants.check(plane, before, ex, end="FAILED UploadFailed", notification="FAILED")
    assert invariants.history_errors(ex) == ["UploadFailed"] * DUMP_ATTEMPTS
    assert api.hits + transfer.hits == DUMP_ATTEMPTS, "each attempt refused once, never retried within it"
    matrix.record(
        "test_s3_refuses_a_part", fault="S3 400 BadDigest on the dump's part, every time",
        workflow="backup", state="StreamDump", transport=matrix.transport_of(host_name),
        end_state="FAILED UploadFailed after 3 attempts, upload aborted", invariants=held,
    )  # fmt: skip


@pytest.fixture(scope="module")
def backups(plane: LocalPlane) -> dict[str, dict[str, Any]]:
    """One backup per host, taken when a case first needs it (host -> the backup's output)."""
    return {}


def _backup_of(plane: LocalPlane, backups: dict[str, dict[str, Any]], host_name: str) -> dict[str, Any]:
    if host_name not in backups:
        ex = plane.run("backup", {"host": host_name, "reason": "for the test restore faults"})
        assert ex.status == "SUCCEEDED" and ex.output is not None, (ex.error, ex.cause)
        backups[host_name] = ex.output
    return backups[host_name]


def test_s3_throttles_the_test_restore_download(
    plane: LocalPlane, host_name: str, backups: dict[str, dict[str, Any]]
) -> None:
    """S3 answers 503 SlowDown to the first reads of the backup. Over SSH the task's GetObject is retried by botocore;
    over SSM the host's presigned GET is retried by curl. (Found by this case: the host's download had no retry,
    so one 503 failed an SSM test restore, restore or recovery; lib/stream_object.sh now retries as the upload
    does.)"""
    backup = _backup_of(plane, backups, host_name)
    before = invariants.snapshot(plane, host_name)
    api = faults.ApiFault("s3", "GetObject", "SlowDown", times=2 if host_name == SSH else 0)
    transfer = faults.TransferFault("GET", "SlowDown", 503, times=2 if host_name == SSM else 0)
    with faults.armed(api), faults.transfers_armed(transfer):
        ex = plane.run("test-restore", {"host": host_name, "backup_id": backup["backup_id"]})
    held = invariants.check(plane, before, ex, end="SUCCEEDED", notification="passed")
    assert api.hits + transfer.hits == 2
    assert (ex.output or {}).get("verification") == "passed"
    matrix.record(
        "test_s3_throttles_the_test_restore_download", fault="S3 503 SlowDown twice on reading the backup",
        workflow="test-restore", state="VerifyBackup", transport=matrix.transport_of(host_name),
        end_state="SUCCEEDED (SDK / curl retried)", invariants=held,
    )  # fmt: skip


def test_pg_restore_fails_in_the_test_restore(plane: LocalPlane, backups: dict[str, dict[str, Any]]) -> None:
    """The load into the scratch database fails (the same workflow states on both transports: one run). The scratch
    database is dropped, the live one never touched, and the verdict recorded in the manifest."""
    host_name = SSH
    backup = _backup_of(plane, backups, host_name)
    before = invariants.snapshot(plane, host_name)
    plane.host(host_name).set_fault("pg_restore", {"fail": True, "unless_arg": "--list"})
    try:
        ex = plane.run("test-restore", {"host": host_name, "backup_id": backup["backup_id"]})
    finally:
        plane.host(host_name).set_fault("pg_restore", None)
    held = invariants.check(plane, before, ex, end="FAILED HostCommandFailed", notification="FAILED")
    assert plane.manifest(backup["manifest_key"])["verification"]["status"] == "failed", "the verdict is recorded"
    matrix.record(
        "test_pg_restore_fails_in_the_test_restore", fault="pg_restore fails loading the scratch database",
        workflow="test-restore", state="LoadScratch", transport=matrix.transport_of(host_name),
        end_state="FAILED HostCommandFailed, scratch dropped, verdict failed", invariants=held,
    )  # fmt: skip


def _lock_item(request: Any) -> bool:
    """A DynamoDB request about a host lock (its key's pk is ``LOCK#<host>``)."""
    body = request.body or b""
    return "LOCK#" in (body.decode() if isinstance(body, bytes) else str(body))


@pytest.mark.parametrize("variant", ["transient", "sustained"])
def test_dynamodb_throttles_the_lock(plane: LocalPlane, variant: str) -> None:
    """DynamoDB throttles the lock's writes. Transient (the acquire twice, the release once): botocore's standard
    retry mode gives DynamoDB 4 attempts, with back-off, so the backup never notices. Sustained: each invocation's
    acquire fails after the SDK's attempts as LockStoreUnavailable, the lock state retries it (LOCK_STORE_RETRY: 4
    more invocations), then the backup fails named, before anything touched the host, nothing left."""
    before = invariants.snapshot(plane, SSH)
    commands = len(plane.host(SSH).commands())
    transient = variant == "transient"
    throttles = (
        faults.ApiFault("dynamodb", "PutItem", "ProvisionedThroughputExceededException",
                        times=2 if transient else None, matches=_lock_item),
        faults.ApiFault("dynamodb", "DeleteItem", "ProvisionedThroughputExceededException",
                        times=1 if transient else 0, matches=_lock_item),
    )  # fmt: skip
    with faults.armed(*throttles):
        ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
    if transient:
        held = _succeeded(plane, before, ex)
        assert [f.hits for f in throttles] == [2, 1]
        end = "SUCCEEDED (the SDK retried)"
    else:
        held = invariants.check(plane, before, ex, end="FAILED LockStoreUnavailable", notification="FAILED")
        assert plane.host(SSH).commands()[commands:] == [], "nothing ran on the host"
        attempts = 1 + int(str(LOCK_STORE_RETRY["MaxAttempts"]))
        assert throttles[0].hits == 4 * attempts, "the SDK's four attempts (standard retry mode) in each state attempt"
        assert invariants.history_errors(ex) == ["LockStoreUnavailable"] * attempts, invariants.history_errors(ex)
        end = f"FAILED LockStoreUnavailable after {attempts} state attempts of 4 SDK attempts each, nothing ran"
    matrix.record(
        "test_dynamodb_throttles_the_lock", fault="DynamoDB throttles the lock's PutItem/DeleteItem",
        workflow="backup", state="AcquireLock", transport="ssh", end_state=end, invariants=held, variant=variant,
    )  # fmt: skip


def test_the_lock_write_answer_is_lost(plane: LocalPlane) -> None:
    """DynamoDB takes the lock's put (and later its delete) but the answer is lost (500 after the write): botocore
    retries. The put's condition admits its own owner again, the delete's retry finds the lock gone (a conditional
    check failure the release treats as released): the backup succeeds and leaves no lock."""
    before = invariants.snapshot(plane, SSH)
    lost = (
        faults.ApiFault("dynamodb", "PutItem", "InternalServerError", when="after",
                        matches=_lock_item),
        faults.ApiFault("dynamodb", "DeleteItem", "InternalServerError", when="after",
                        matches=_lock_item),
    )  # fmt: skip
    with faults.armed(*lost):
        ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
    held = _succeeded(plane, before, ex)
    assert [f.hits for f in lost] == [1, 1]
    matrix.record(
        "test_the_lock_write_answer_is_lost", fault="DynamoDB 500 after the lock's put and delete took effect",
        workflow="backup", state="AcquireLock, ReleaseLock", transport="ssh",
        end_state="SUCCEEDED (the retries are idempotent)", invariants=held,
    )  # fmt: skip


@pytest.mark.parametrize("variant", ["success", "failure"])
def test_sns_down(plane: LocalPlane, variant: str) -> None:
    """SNS refuses every Publish (500). The data outcome does not depend on the notification: a backup whose
    notification cannot be published is still a good backup with its manifest, and a failed one still fails named
    with its cleanup done. No notification can arrive: the case expects none."""
    before = invariants.snapshot(plane, SSH)
    down = faults.ApiFault("sns", "Publish", "InternalError", times=None)
    with faults.armed(down):
        if variant == "failure":
            plane.host(SSH).set_fault("pg_dump", {"fail": True, "unless_arg": "--version"})
        try:
            ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
        finally:
            plane.host(SSH).set_fault("pg_dump", None)
    if variant == "success":
        held = invariants.check(plane, before, ex, end="SUCCEEDED", new_objects=_backup_objects(ex), notification=())
        manifest = plane.manifest(ex.output["manifest_key"])  # type: ignore[index]
        assert manifest["sha256"] == ex.output["sha256"]  # type: ignore[index]
        end = "SUCCEEDED with its manifest, no notification"
    else:
        held = invariants.check(plane, before, ex, end="FAILED DumpFailed", notification=())
        end = "FAILED DumpFailed, cleaned up, no notification"
    # the notify state's own Retry (3 more attempts), then its Catch goes on
    assert invariants.history_errors(ex)[-4:] == ["SNS.InternalErrorException"] * 4
    matrix.record(
        "test_sns_down", fault="SNS refuses every Publish (500)", workflow="backup",
        state="NotifySuccess" if variant == "success" else "NotifyFailure", transport="ssh", end_state=end,
        invariants=held, variant=variant,
    )  # fmt: skip


def _waiting_backends(plane: LocalPlane, host: str) -> int:
    return int(plane.host(host).sql("SELECT count(*) FROM pg_locks WHERE NOT granted", db="postgres")[0][0])


def test_postgres_stops_mid_dump(plane: LocalPlane) -> None:
    """PostgreSQL stops (fast shutdown: every session ended) while the dump runs: pg_dump has started and waits
    for a table lock the case holds, then the server goes. The dump fails, the upload is aborted; the database
    comes back as its restart policy would bring it back, with nothing lost."""
    host = plane.host(SSH)
    before = invariants.snapshot(plane, SSH)
    blocker = psycopg.connect(**(host.pg_conninfo() | {"dbname": "frostguard"}), autocommit=False)
    try:
        blocker.execute("LOCK TABLE temperature_readings IN ACCESS EXCLUSIVE MODE")
        arn = plane.start_execution("backup", {"host": SSH, "reason": "fault matrix"})
        deadline = time.monotonic() + 60
        while _waiting_backends(plane, SSH) == 0:
            assert time.monotonic() < deadline, "the dump never reached the table"
            time.sleep(0.05)
        host.stop_database()
        ex = plane.wait(arn, "backup")
    finally:
        with contextlib.suppress(psycopg.Error):
            blocker.close()
        host.start_database()
    held = invariants.check(plane, before, ex, end="FAILED DumpFailed", notification="FAILED")
    matrix.record(
        "test_postgres_stops_mid_dump", fault="PostgreSQL stops while pg_dump runs", workflow="backup",
        state="StreamDump", transport="ssh", end_state="FAILED DumpFailed, upload aborted", invariants=held,
    )  # fmt: skip


def test_host_disk_full(plane: LocalPlane) -> None:
    host = plane.host(SSH)
    before = invariants.snapshot(plane, SSH)
    commands = len(host.commands())
    host.set_disk_use(100)
    try:
        ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
    finally:
        host.set_disk_use(None)
    held = invariants.check(plane, before, ex, end="FAILED InsufficientDisk", notification="FAILED")
    assert not any("pg_dump" in part for command in host.commands()[commands:] for part in command
                   if "--version" not in command), "no dump was started"  # fmt: skip
    matrix.record(
        "test_host_disk_full", fault="the host's disk 100 % used", workflow="backup", state="Preflight",
        transport="ssh", end_state="FAILED InsufficientDisk before any dump", invariants=held,
    )  # fmt: skip


def test_lambda_times_out_mid_dump(plane: LocalPlane) -> None:
    """The dump's Lambda reaches its timeout mid-stream (Sandbox.Timedout, as Lambda reports it: DESIGN 4b). Lambda
    cannot be told to stop, so the handler here runs on; its late success finds the task closed and it deletes the
    dump it stored (no manifest is ever written for it)."""
    before = invariants.snapshot(plane, SSH)
    dumps = plane.finished_invocations("BackupDump")
    with hold(plane.host(SSH), "pg_dump", unless_arg="--version") as dump, function_timeout("BackupDump", 2):
        ex = plane.run("backup", {"host": SSH, "reason": "fault matrix"})
        dump.release()
        deadline = time.monotonic() + 60
        while plane.finished_invocations("BackupDump") == dumps:
            assert time.monotonic() < deadline, "the timed-out dump handler never ended"
            time.sleep(0.05)
    held = invariants.check(plane, before, ex, end="FAILED Sandbox.Timedout", notification="FAILED")
    assert invariants.history_errors(ex) == ["Sandbox.Timedout"]
    matrix.record(
        "test_lambda_times_out_mid_dump", fault="the dump's Lambda times out mid-stream", workflow="backup",
        state="StreamDump", transport="ssh", end_state="FAILED Sandbox.Timedout, the late dump deleted",
        invariants=held,
    )  # fmt: skip
