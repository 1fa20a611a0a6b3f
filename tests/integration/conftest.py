"""One local plane per test module: embedded AWS + a real PostgreSQL + a real sshd on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshtrack_ops.config import UpdateSettings
from opsctl.local import iam
from opsctl.local.host import LocalHost
from opsctl.local.names import function_arn
from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available


@contextlib.contextmanager
def sshd_plane(readings: int = 2_000, **plane_options: Any) -> Iterator[LocalPlane]:
    """A plane with sshd ("demo" over SSH, "demo-ssm" over SSM); 2,000 readings unless asked: a workflow test needs a
    real database, not a big one (initdb and the seed are most of a plane's start)."""
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=readings, use_sshd=True, **plane_options) as local_plane:
        yield local_plane


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane(readings=20_000) as local_plane:
        yield local_plane


@contextlib.contextmanager
def update_plane(**plane_options: Any) -> Iterator[LocalPlane]:
    """A lean plane for the update tests: two verification attempts per host (a broken release is rolled back within
    seconds)."""
    with sshd_plane(**plane_options) as local_plane:
        for host in local_plane.hosts():
            local_plane.update_target(host, update=UpdateSettings(verify_window_s=20).model_dump())
        yield local_plane


def verified_backup(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    """A backup of ``host_name`` whose test restore passed (what a disaster recovery restores); its output."""
    backup = plane.run("backup", {"host": host_name})
    assert backup.status == "SUCCEEDED" and backup.output is not None, (backup.error, backup.cause)
    output: dict[str, Any] = backup.output
    check = plane.run("test-restore", {"host": host_name, "backup_id": output["backup_id"]})
    assert check.status == "SUCCEEDED", (check.error, check.cause)
    return output


def wait_notification(plane: LocalPlane, subject: str, after: int = 0, timeout_s: float = 60.0) -> dict[str, Any]:
    """The newest notification with ``subject`` among those published after the first ``after``, waiting for it:
    an approval is stored before its request is
    published, so "the execution waits for approval" can be true a moment before the request is out (a test that
    read the notifications at once failed on a loaded CI machine)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [n for n in plane.notifications()[after:] if n["Subject"] == subject]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no notification {subject!r} within {timeout_s} s"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _no_iam_denials() -> Iterator[None]:
    """A denial the code caught and went on from (a 403 taken for "missing") fails no workflow: every call a
    task makes must be one its role allows (a test that drops a grant takes its denials itself)."""
    iam.STATE.denials.clear()
    yield
    assert iam.STATE.denials == []


#: one host per transport in every plane (LocalPlane's defaults)
TRANSPORT_HOSTS = {"ssh": "demo", "ssm": "demo-ssm"}


@pytest.fixture(scope="module", params=sorted(TRANSPORT_HOSTS))
def host_name(request: pytest.FixtureRequest) -> str:
    """The workflow tests run once per transport: over SSH ("demo") and over SSM Run Command ("demo-ssm")."""
    return TRANSPORT_HOSTS[str(request.param)]


class Gate:
    """A host command held by the docker shim's ``wait_for`` fault until the test releases it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def held(self) -> int:
        """How many commands have reached the gate so far (released ones included)."""
        return len(list(self.path.parent.glob(f"{self.path.name}.held.*")))

    def wait_held(self, count: int = 1, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.held() < count:
            assert time.monotonic() < deadline, f"{count} command(s) never reached the gate {self.path.name}"
            time.sleep(0.02)

    def release(self) -> None:
        self.path.touch()


@contextlib.contextmanager
def hold(host: LocalHost, command: str, *, unless_arg: str | None = None) -> Iterator[Gate]:
    """Within the block, ``command`` (e.g. ``pg_dump``) waits on the host until ``Gate.release`` (a lock held,
    a state kept busy for exactly as long as the test needs); after it, the fault is cleared and anything
    still held is let go."""
    gate = Gate(host.state_dir / f"gate-{command}-{uuid.uuid4().hex[:8]}")
    host.set_fault(command, {"wait_for": str(gate.path)} | ({"unless_arg": unless_arg} if unless_arg else {}))
    try:
        yield gate
    finally:
        host.set_fault(command, None)
        gate.release()


def abort_in_flight(plane: LocalPlane, execution_arn: str, gate: Gate) -> dict[str, Any]:
    """``plane.abort`` of an execution whose current state's Lambda is still running, held at ``gate`` (SSH: the
    dump streams inside the invocation). Step Functions would end the execution at once; moto ends it only when
    the Lambda returns. So the stop is requested first (it is registered at once), then the command let go;
    ``plane.abort`` then waits for ABORTED and runs the janitor. (A state waiting for a task token, as over SSM,
    ends at once: call ``plane.abort`` while the command is held.)"""
    plane.sfn.stop_execution(executionArn=execution_arn, error="Aborted", cause="aborted by an operator")
    gate.release()
    return plane.abort(execution_arn)


def host_task_state(task: str, payload: dict[str, str]) -> dict[str, Any]:
    """A host task's state as the workflows write it (``lambda:invoke.waitForTaskToken`` with the execution id and
    the task token added to ``payload``), ending the machine: for tests that drive host steps alone."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": function_arn(task),
            "Payload": payload | {"execution_id.$": "$$.Execution.Id", "task_token.$": "$$.Task.Token"},
        },
        "TimeoutSeconds": 300,
        "End": True,
    }


def post_webhook(url: str, headers: dict[str, str], body: bytes, timeout_s: float = 60.0) -> tuple[int, dict[str, Any]]:
    """POST a delivery to the local webhook: (status, the JSON answer), 4xx/5xx answers included."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def tls_listener(tmp: Path, days: int) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 serving a certificate that expires in ``days`` days (a stand-in for Caddy, for
    the certificate checks: ``openssl s_server`` with a certificate made here); its port."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", str(days), "-subj", "/CN=demo.freshtrack.local", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key), "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "openssl s_server did not start"
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
