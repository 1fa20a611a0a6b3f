"""The backup workflow end to end on the local plane: real sshd, real PostgreSQL, moto's ASL interpreter.

Tests taking ``host_name`` run once per transport (SSH and SSM); the others are about SSH itself."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from freshtrack_ops.config import SshTarget
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import TRANSPORT_HOSTS, abort_in_flight, hold

pytestmark = pytest.mark.integration


def _sha256_of_object(plane: LocalPlane, key: str) -> tuple[str, bytes]:
    body = plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest(), body


def test_backup_object_restores_with_the_live_row_counts(plane: LocalPlane, host_name: str, tmp_path: Path) -> None:
    host = plane.host(host_name)
    live_counts = host.table_counts()

    ex = plane.run("backup", {"host": host_name, "trigger": "console", "reason": "integration test"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None
    manifest = plane.manifest(ex.output["manifest_key"])
    digest, body = _sha256_of_object(plane, ex.output["dump_key"])
    assert digest == manifest["sha256"] == ex.output["sha256"]
    assert len(body) == manifest["size_bytes"] == ex.output["size_bytes"]
    assert manifest["app_version"] == "v1.2.0"
    assert manifest["trigger"] == "console"
    assert {name.removeprefix("public."): n for name, n in manifest["row_counts"].items()} == live_counts

    # the default compression (auto) is zstd-stream on a host with zstd, as this one: the archive is in a zstd frame
    assert manifest["compression"] == "zstd-stream"
    archive = subprocess.run(["zstd", "-d", "-c"], input=body, capture_output=True, check=True).stdout
    dump_file = tmp_path / "backup.dump"
    dump_file.write_bytes(archive)
    host.sql("DROP DATABASE IF EXISTS scratch_restore")
    host.sql("CREATE DATABASE scratch_restore OWNER frostguard")
    try:
        subprocess.run(
            [
                str(host.pg_bindir / "pg_restore"),
                "-h",
                str(host.pg_socket_dir),
                "-p",
                str(host.pg_port),
                "-U",
                "postgres",
                "--no-owner",
                "--exit-on-error",
                "-d",
                "scratch_restore",
                str(dump_file),
            ],
            check=True,
            capture_output=True,
        )
        assert host.table_counts(db="scratch_restore") == live_counts
    finally:
        host.sql("DROP DATABASE IF EXISTS scratch_restore")
    assert plane.lock_item(host_name) is None


def test_connection_dropped_mid_stream_leaves_nothing_behind(plane: LocalPlane) -> None:
    host = plane.host("demo")
    keys_before = set(plane.object_keys())
    plane.notifications()
    host.set_fault("pg_dump", {"drop_connection_after_bytes": 40_000})
    try:
        ex = plane.run("backup", {"host": "demo", "reason": "drop test"})
    finally:
        host.set_fault("pg_dump", None)

    assert ex.status == "FAILED"
    assert ex.error == "HostConnectionLost", ex.cause
    # the stream was retried (transient: twice, per the state's Retry) and every attempt was cut; each attempt
    # is a task of its own (a fresh task token), so each failed on its own
    assert ex.state_names().count("StreamDump") == 1
    dump_failures = [
        e for e in ex.history if e["type"] == "TaskFailed" and "HostConnectionLost" in json.dumps(e, default=str)
    ]
    assert len(dump_failures) == 3, [e["type"] for e in ex.history]
    assert set(plane.object_keys()) == keys_before, "no dump and no manifest may remain"
    assert plane.incomplete_uploads() == []
    assert plane.lock_item("demo") is None
    failures = [n for n in plane.notifications() if "FAILED" in (n["Subject"] or "")]
    assert failures and "HostConnectionLost" in failures[-1]["Message"]


def test_host_presenting_another_key_is_refused_before_any_command(plane: LocalPlane, tmp_path: Path) -> None:
    host = plane.host("demo")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_key = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    original = plane.target("demo")
    assert isinstance(original, SshTarget)
    commands_before = len(host.commands())
    plane.update_target("demo", host_public_key=other_key)
    try:
        ex = plane.run("backup", {"host": "demo"})
    finally:
        plane.update_target("demo", host_public_key=original.host_public_key)

    assert ex.status == "FAILED"
    assert ex.error == "HostKeyMismatch"
    assert "pinned" in (ex.cause or "")
    assert len(host.commands()) == commands_before, "no command may run on a host with the wrong key"
    assert plane.lock_item("demo") is None


def test_second_backup_while_one_runs_fails_with_lock_held(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    with hold(host, "pg_dump", unless_arg="--version") as dump:  # preflight asks pg_dump --version
        first = plane.start_execution("backup", {"host": host_name, "reason": "first"})
        dump.wait_held()  # the first backup is dumping: it holds the lock until the dump is let go
        assert plane.lock_item(host_name) is not None
        second = plane.run("backup", {"host": host_name, "reason": "second"})
        dump.release()
        first_done = plane.wait(first, "backup")

    assert second.status == "FAILED"
    assert second.error == "LockHeld"
    assert first in (second.cause or ""), "the error names the execution holding the lock"
    assert first_done.status == "SUCCEEDED", (first_done.error, first_done.cause)
    assert plane.lock_item(host_name) is None


@pytest.mark.parametrize(
    ("execution_input", "field"),
    [
        ({"host": "nope"}, "host"),
        ({"host": "demo", "trigger": "whenever"}, "trigger"),
        ({"host": "demo", "surprise": 1}, "surprise"),
        ({"trigger": "console"}, "host"),
        ({"host": "demo; rm -rf /"}, "host"),
    ],
)
def test_bad_input_names_the_field_and_touches_nothing(
    plane: LocalPlane, execution_input: dict[str, object], field: str
) -> None:
    host = plane.host("demo")
    commands_before = len(host.commands())
    keys_before = set(plane.object_keys())

    ex = plane.run("backup", execution_input)

    assert ex.status == "FAILED"
    assert ex.error == "InvalidInput"
    assert (ex.cause or "").startswith(f"{field}:") or f"{field}:" in (ex.cause or "")
    assert "AcquireLock" not in ex.state_names()
    assert len(host.commands()) == commands_before
    assert set(plane.object_keys()) == keys_before
    assert plane.lock_item("demo") is None


def test_an_aborted_backup_leaves_no_lock_behind(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    with hold(host, "pg_dump", unless_arg="--version") as dump:
        arn = plane.start_execution("backup", {"host": host_name, "reason": "to be aborted"})
        dump.wait_held()
        assert plane.lock_item(host_name) is not None
        # over SSH the dump streams inside StreamDump's Lambda; over SSM StreamDump waits for the command's
        # task token, and the janitor cancels the held command
        in_flight = host_name == TRANSPORT_HOSTS["ssh"]
        result = abort_in_flight(plane, arn, dump) if in_flight else plane.abort(arn)
        aborted = plane.wait(arn, "backup")
    assert aborted.status == "ABORTED"
    assert result["released"] is True, result
    assert plane.lock_item(host_name) is None
    follow_up = plane.run("backup", {"host": host_name, "reason": "after the abort"})
    assert follow_up.status == "SUCCEEDED", follow_up.cause


def test_a_dump_finishing_after_its_backup_was_aborted_is_discarded(plane: LocalPlane) -> None:
    """SSH: the dump Lambda cannot be stopped and runs to its end; finding nobody waiting, it deletes the dump
    it just stored (it has no manifest). The SSM path cancels its command instead (test_ssm_workflows)."""
    host = plane.host("demo")
    keys_before = set(plane.object_keys())
    dumps_before = plane.finished_invocations("BackupDump")
    with hold(host, "pg_dump", unless_arg="--version") as dump:  # not preflight's pg_dump --version
        arn = plane.start_execution("backup", {"host": "demo", "reason": "aborted mid-dump"})
        dump.wait_held()  # StreamDump's Lambda is reading the dump
        abort_in_flight(plane, arn, dump)  # the dump is let go only once the stop has been requested
        aborted = plane.wait(arn, "backup")
        deadline = time.monotonic() + 60
        while plane.finished_invocations("BackupDump") == dumps_before:
            assert time.monotonic() < deadline, "the dump Lambda never ended"
            time.sleep(0.05)

    assert aborted.status == "ABORTED"
    assert set(plane.object_keys()) == keys_before, "the orphaned dump was deleted"
    assert plane.incomplete_uploads() == []
    assert plane.lock_item("demo") is None


def test_a_connection_dropped_once_is_retried_and_the_backup_succeeds(plane: LocalPlane) -> None:
    """A transient failure is retried (the state's Retry) and a retry can succeed: each attempt is a task of its
    own, invoked anew."""
    host = plane.host("demo")
    dumps_before = plane.finished_invocations("BackupDump")
    host.set_fault("pg_dump", {"drop_connection_after_bytes": 40_000, "times": 1, "unless_arg": "--version"})
    try:
        ex = plane.run("backup", {"host": "demo", "reason": "one dropped connection"})
    finally:
        host.set_fault("pg_dump", None)

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert sum(1 for e in ex.history if e["type"] == "TaskFailed") == 1
    assert plane.finished_invocations("BackupDump") - dumps_before == 2
    assert plane.lock_item("demo") is None
