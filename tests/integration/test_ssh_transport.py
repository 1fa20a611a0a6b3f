"""The SSH adapter against the real sshd: pinned keys, timeouts, and streams past paramiko's rekey limit."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from freshtrack_ops.adapters.ssh import SshRunner, SshStream, load_private_key
from freshtrack_ops.errors import HostKeyMismatch, HostUnreachable
from opsctl.local.plane import LocalPlane

pytestmark = pytest.mark.integration
STREAM_BYTES = 600 * 1024 * 1024  # beyond paramiko's 512 MiB rekey threshold


def _runner(plane: LocalPlane, **overrides: object) -> SshRunner:
    host = plane.host("demo")
    assert host.ssh_port is not None
    options: dict[str, object] = {
        "host_id": "demo",
        "address": "127.0.0.1",
        "port": host.ssh_port,
        "user": host.ssh_user,
        "private_key": load_private_key(host.ssh_private_key),
        "host_public_key": host.ssh_host_public_key,
        "connect_timeout_s": 5.0,
    } | overrides
    return SshRunner(**options)  # type: ignore[arg-type]


def test_one_channel_carries_more_than_512_mib_intact(plane: LocalPlane) -> None:
    runner = _runner(plane)
    try:
        channel = runner._session(60)
        channel.exec_command(f"head -c {STREAM_BYTES} /dev/zero")
        stream = SshStream(channel, "demo", "zeros", 60)
        digest, total = hashlib.sha256(), 0
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            total += len(chunk)
        result = stream.finish()
    finally:
        runner.close()
    assert result.exit_code == 0
    assert total == STREAM_BYTES
    assert digest.hexdigest() == hashlib.sha256(bytes(STREAM_BYTES)).hexdigest()


def test_a_host_with_another_key_is_refused_before_authentication(plane: LocalPlane, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    other = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    runner = _runner(plane, host_public_key=other)
    with pytest.raises(HostKeyMismatch, match="pinned ssh-ed25519 SHA256:"):
        runner.run("preflight.sh", {}, timeout_s=10)


def test_a_closed_port_is_unreachable(plane: LocalPlane) -> None:
    runner = _runner(plane, port=1)
    with pytest.raises(HostUnreachable, match="cannot connect"):
        runner.run("preflight.sh", {}, timeout_s=10)


def test_a_command_given_no_input_reads_end_of_file_at_once(plane: LocalPlane) -> None:
    """Nothing to send: stdin ends at once, as over SSM (the agent gives a command no input). It was left open, and a
    script that reads stdin (here pg_restore, given no archive) waited until the timeout (tests/faults found it)."""
    from freshtrack_ops.host_env import host_env

    runner = _runner(plane)
    env = host_env(plane.target("demo")) | {"TARGET_DB": "frostguard_never_created"}
    started = time.monotonic()
    try:
        result = runner.run("restore_stream.sh", env, timeout_s=30)
    finally:
        runner.close()
    assert result.exit_code != 0 and "too short" in result.stderr, result.stderr
    assert time.monotonic() - started < 15, "pg_restore read end of file, it did not wait for the timeout"
