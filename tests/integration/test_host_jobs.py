"""Transfers longer than one Lambda invocation, and URLs outlived by their credentials, on both transports.

The plane here is as strict as AWS where these matter: each data function times out after 5 s (Lambda stops
an invocation at its timeout: Sandbox.Timedout), and the tasks presign with temporary credentials that live
4 s (a presigned URL dies with them: ExpiredToken). The host's pg_dump takes 6 s, so a backup can only succeed
as a detached host job whose polls feed it fresh part URLs; test restores and restores read the backup as
jobs too. Aborting an execution stops its job on the host and undoes what it started.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.config import BackupSettings, RestoreSettings
from opsctl.local.plane import Execution, LocalPlane
from tests.integration.conftest import TRANSPORT_HOSTS, hold, sshd_plane

pytestmark = pytest.mark.integration

#: the data functions' timeout here (the catalog's is 900 s)
FUNCTION_TIMEOUT_S = 5
#: the life of the credentials the tasks presign with
CREDENTIAL_LIFETIME_S = 4.0
#: what the URLs themselves say (X-Amz-Expires): longer than their signer lives, as in AWS
PRESIGN_VALIDITY_S = 30
#: a real slowness (not a hold): the dump must outlive the function and the credentials
PG_DUMP_DELAY = {"delay_s": 6, "unless_arg": "--version"}  # preflight asks pg_dump --version
#: what the targets assume about their transfers (MB/s): slow enough that no transfer of the small demo
#: database fits inline, not even a read over SSM (whose budget is half the document's hour)
SLOW = {
    "backup": BackupSettings(assumed_dump_mb_s=0.00001),
    "restore": RestoreSettings(assumed_load_mb_s=0.00001, assumed_verify_mb_s=0.00001),
}


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    timeouts = dict.fromkeys(("BackupDump", "BackupVerify", "RestoreLoad"), FUNCTION_TIMEOUT_S)
    with sshd_plane(
        readings=5_000,
        function_timeouts=timeouts,
        credential_lifetime_s=CREDENTIAL_LIFETIME_S,
        presign_validity_s=PRESIGN_VALIDITY_S,
    ) as local_plane:
        for host in TRANSPORT_HOSTS.values():
            local_plane.update_target(host, **{key: value.model_dump() for key, value in SLOW.items()})
        yield local_plane


def _polls(ex: Execution, state: str) -> int:
    return ex.state_names().count(f"{state}PollJob")


def _leftovers(plane: LocalPlane) -> tuple[list[dict[str, object]], list[str], list[dict[str, Any]]]:
    undo = plane.dynamodb.scan(
        TableName=plane.table,
        FilterExpression="begins_with(sk, :undo)",
        ExpressionAttributeValues={":undo": {"S": "UNDO#"}},
    )["Items"]
    return plane.incomplete_uploads(), plane.object_keys("ssm-exchange/"), undo


def _job_dirs(plane: LocalPlane, host_name: str) -> list[Path]:
    root = Path(plane.target(host_name).job_dir)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def _running_jobs(plane: LocalPlane, host_name: str) -> list[Path]:
    return [d for d in _job_dirs(plane, host_name) if not (d / "exit").exists()]


def test_every_workflow_succeeds_when_its_transfers_outlive_the_function_and_the_urls(
    plane: LocalPlane, host_name: str
) -> None:
    host = plane.host(host_name)
    refused_before = len(plane.s3_endpoint_refusals())
    host.set_fault("pg_dump", PG_DUMP_DELAY)
    try:
        backup = plane.run("backup", {"host": host_name, "reason": "longer than one invocation"})
    finally:
        host.set_fault("pg_dump", None)

    assert backup.status == "SUCCEEDED", (backup.error, backup.cause)
    assert _polls(backup, "StreamDump") >= 1, backup.state_names()
    assert "ExpiredToken" in plane.s3_endpoint_refusals()[refused_before:], "the first URLs died with their signer"
    assert backup.output is not None
    manifest = plane.manifest(backup.output["manifest_key"])
    stored = plane.s3.get_object(Bucket=plane.bucket, Key=backup.output["dump_key"])["Body"].read()
    assert (hashlib.sha256(stored).hexdigest(), len(stored)) == (manifest["sha256"], manifest["size_bytes"])

    check = plane.run("test-restore", {"host": host_name, "backup_id": backup.output["backup_id"]})
    assert check.status == "SUCCEEDED", (check.error, check.cause)
    assert _polls(check, "VerifyBackup") >= 1 and _polls(check, "LoadScratch") >= 1, check.state_names()

    counts = host.table_counts()
    host.sql("DELETE FROM temperature_readings WHERE id %% 3 = 0")
    restore = plane.run(
        "restore", {"host": host_name, "backup_id": backup.output["backup_id"], "confirm": "frostguard"}
    )
    assert restore.status == "SUCCEEDED", (restore.error, restore.cause)
    assert _polls(restore, "LoadIncoming") >= 1, restore.state_names()  # the restore by swap's load
    assert host.table_counts() == counts

    plane.wait_ssm_idle()
    assert _leftovers(plane) == ([], [], [])
    assert plane.lock_item(host_name) is None
    assert _running_jobs(plane, host_name) == []
    history = json.dumps([plane.history(ex.arn) for ex in (backup, check, restore)], default=str)
    assert "X-Amz-Signature" not in history, "no presigned URL in any execution history"


def test_a_stream_that_outlives_its_function_fails_with_sandbox_timedout(plane: LocalPlane) -> None:
    """The stand-in is as strict as Lambda: a transfer kept inline (here: a target that assumes fast dumps)
    is stopped at the function's timeout, and its late work is undone."""
    host_name = TRANSPORT_HOSTS["ssh"]
    host = plane.host(host_name)
    keys_before = set(plane.object_keys())
    plane.update_target(host_name, backup=BackupSettings(assumed_dump_mb_s=1000).model_dump())
    # The estimate takes the slower of the assumed rate and the host's newest measured one, and this module's
    # earlier backups measured the slow dump: forget them, or the dump may be planned as a job (how this test
    # failed on a loaded machine) instead of inline.
    catalog = runtime.catalog()
    for entry in catalog.list_backups(host_name):
        catalog.forget(entry)
    dumps_before = plane.finished_invocations("BackupDump")
    host.set_fault("pg_dump", PG_DUMP_DELAY)
    try:
        ex = plane.run("backup", {"host": host_name, "reason": "kept inline"})
        # the handler runs on in its thread (as a frozen Lambda would not) until the slow dump ends
        deadline = time.monotonic() + 60
        while plane.finished_invocations("BackupDump") == dumps_before:
            assert time.monotonic() < deadline, "the timed-out dump handler never ended"
            time.sleep(0.05)
    finally:
        host.set_fault("pg_dump", None)
        plane.update_target(host_name, backup=SLOW["backup"].model_dump())

    assert ex.status == "FAILED"
    assert ex.error == "Sandbox.Timedout", ex.cause
    assert _polls(ex, "StreamDump") == 0
    assert set(plane.object_keys()) == keys_before, "the late dump found nobody waiting and deleted itself"
    assert plane.incomplete_uploads() == []
    assert plane.lock_item(host_name) is None


def _entered(plane: LocalPlane, arn: str, state: str) -> bool:
    return any(
        event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == state
        for event in plane.history(arn)
    )


def _wait_for_state(plane: LocalPlane, arn: str, state: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not _entered(plane, arn, state):
        assert time.monotonic() < deadline, f"{state} was never entered"
        time.sleep(0.05)


def test_an_aborted_backup_stops_its_host_job_and_undoes_its_upload(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    keys_before = set(plane.object_keys())
    plane.notifications()
    with hold(host, "pg_dump", unless_arg="--version"):  # held until the janitor's TERM ends the job
        arn = plane.start_execution("backup", {"host": host_name, "reason": "aborted mid-job"})
        _wait_for_state(plane, arn, "StreamDumpPollJob")
        assert len(_running_jobs(plane, host_name)) == 1
        janitor = plane.abort(arn)
        plane.wait_ssm_idle()

    assert plane.wait(arn, "backup").status == "ABORTED"
    assert [key.split("#")[0] for key in janitor["undone"]] == ["job"], janitor
    assert janitor["failed"] == []
    assert _running_jobs(plane, host_name) == [], "the job was stopped on the host"
    stopped = [d for d in _job_dirs(plane, host_name) if (d / "exit").read_text().strip() == "143"]
    assert stopped, "the job ended by the janitor's TERM"
    assert set(plane.object_keys()) == keys_before
    assert _leftovers(plane) == ([], [], [])
    assert plane.lock_item(host_name) is None
    notices = [n for n in plane.notifications() if "ABORTED" in (n["Subject"] or "")]
    assert notices and "job#" in str(notices[-1]["Message"]), notices


def test_an_aborted_test_restore_drops_its_scratch_database(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    backup = plane.run("backup", {"host": host_name, "reason": "for an aborted test restore"})
    assert backup.status == "SUCCEEDED", backup.cause
    with hold(host, "pg_restore", unless_arg="--list"):  # held until the janitor's TERM ends the job
        arn = plane.start_execution("test-restore", {"host": host_name, "backup_id": backup.output["backup_id"]})  # type: ignore[index]
        _wait_for_state(plane, arn, "LoadScratchPollJob")
        scratch = {row[0] for row in host.sql("SELECT datname FROM pg_database WHERE datname LIKE '%%_verify_%%'")}
        assert len(scratch) == 1
        janitor = plane.abort(arn)
        plane.wait_ssm_idle()

    assert sorted(key.split("#")[0] for key in janitor["undone"]) == ["job", "scratch"], janitor
    assert host.sql("SELECT datname FROM pg_database WHERE datname LIKE '%%_verify_%%'") == []
    assert _running_jobs(plane, host_name) == []
    assert _leftovers(plane) == ([], [], [])
