"""The local plane's daemon process (``python -m opsctl.local.daemon``; the client side is ``daemon``).

It starts a ``LocalPlane`` rooted in ``<state dir>/plane``, then serves moto's HTTP API for every service
(``DomainDispatcherApplication(create_backend_app)`` on werkzeug, as ``s3_endpoint`` does for S3) on 127.0.0.1
at a free port, in this process: the endpoint answers from the very backends the plane's executions, tasks and
hosts use, and moto's ``execute_state_machine`` setting (``mock_aws``'s config, process-wide) holds for
executions started through it. Only then is ``plane.json`` written (atomically). Every SNS notification is
appended to ``notifications.jsonl`` (polled every 0.5 s). SIGTERM or SIGINT: ``plane.json`` removed, the
endpoint and the plane stopped, exit 0.

IAM: the plane evaluates a call against a task role only while that task's handler runs (``iam.running_task``
in the invocation's thread). The endpoint's request threads carry no task, so the operator's calls (start an
execution, approve, read the table) are not evaluated, as an administrator's would not be against a task role;
a task invoked through the endpoint still runs as its role (no ``iam.plane_calls`` escape here). ``GET
/ftops-plane/status`` reports how many task authorizations were checked and every denial.

Not served: moto's ``/moto-api/`` (its reset would wipe the plane under the running workflows, its data dump
would print every secret).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from opsctl.local.daemon import (
    LIFETIME_LOCK,
    NOTIFICATIONS_FILE,
    PLANE_FILE,
    PLANE_ROOT,
    STATUS_PATH,
)
from opsctl.local.moto_http import QuietServer, moto_app

if TYPE_CHECKING:
    from opsctl.local.plane import LocalPlane

#: the targets of the daemon's plane: "demo" over SSH, "demo-ssm" over SSM Run Command
HOSTS = ("demo", "demo-ssm")
SSM_HOSTS = ("demo-ssm",)
NOTIFICATION_POLL_S = 0.5

log = logging.getLogger("opsctl.local.daemon")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Stopped(BaseException):
    """SIGTERM/SIGINT while the plane was starting (a BaseException: ``LocalPlane.start`` stops what it started)."""


class PlaneApp:
    """WSGI: the daemon's status route, 404 for ``/moto-api/``, moto for everything else."""

    def __init__(self, moto_app: WsgiApp, status: Callable[[], dict[str, Any]]) -> None:
        self._moto_app = moto_app
        self._status = status

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == STATUS_PATH:
            return self._answer(start_response, "200 OK", self._status())
        if path.startswith("/moto-api"):
            return self._answer(start_response, "404 Not Found", {"message": "not served by the local plane"})
        return self._moto_app(environ, start_response)

    @staticmethod
    def _answer(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


class PlaneServer:
    """moto's HTTP API for every service on ``http://127.0.0.1:<free port>``, in threads of this process."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status
        self._server = QuietServer("local-plane-endpoint")

    def start(self) -> str:
        port = self._server.start(PlaneApp(moto_app(), self._status))
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.stop()


class NotificationLog:
    """Appends each notification the plane has not handed out before to ``notifications.jsonl``, a whole line
    per write."""

    def __init__(self, path: Path, read: Callable[[], list[dict[str, Any]]]) -> None:
        self._path = path
        self._read = read
        self._written = 0
        path.write_text("", encoding="utf-8")

    def poll(self) -> None:
        found = self._read()
        new, self._written = found[self._written :], len(found)
        if new:
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(item, sort_keys=True) + "\n" for item in new))


def outputs_of(plane: LocalPlane, workflows: Iterable[str]) -> dict[str, str]:
    """The keys the deployed stacks output, with the plane's values: ``<Camel>StateMachineArn`` per workflow
    (``stacks.names.camel``, as the control plane stack names them), the storage stack's names and ARNs, the
    topic, the targets parameter, and the alert webhooks' URLs and secret names."""
    from opsctl.local.iam import WEBHOOK_SECRET_NAMES
    from opsctl.local.names import ACCOUNT, REGION, TARGETS_PARAMETER
    from stacks.names import camel

    outputs = {f"{camel(workflow)}StateMachineArn": plane.state_machine_arn(workflow) for workflow in workflows}
    outputs |= {
        "BackupBucketName": plane.bucket,
        "BackupBucketArn": f"arn:aws:s3:::{plane.bucket}",
        "OpsTableName": plane.table,
        "OpsTableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{plane.table}",
        "DataKeyArn": plane.key_arn,
        "NotificationTopicArn": plane.topic_arn,
        "TargetsParameterName": TARGETS_PARAMETER,
    }
    for source, secret_name in WEBHOOK_SECRET_NAMES.items():
        outputs[f"{camel(source)}WebhookUrl"] = plane.webhook(source)[0]
        outputs[f"{camel(source)}WebhookSecretName"] = secret_name
    return outputs


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def _hold_lifetime_lock(directory: Path, timeout_s: float = 2) -> Any:
    """The flock that says "a daemon runs here" (released when this process exits); None if another holds it."""
    import fcntl

    handle = (directory / LIFETIME_LOCK).open("a")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                return None
            time.sleep(0.1)


class Daemon:
    """One plane in ``state_dir`` until a signal: ``start`` (the plane, the endpoint, ``plane.json``), ``serve``
    (the notifications), ``close`` (everything, in that order backwards)."""

    def __init__(self, state_dir: Path, readings: int | None) -> None:
        self.state_dir = state_dir
        self.root = state_dir / PLANE_ROOT
        self.plane_file = state_dir / PLANE_FILE
        self.stopping = threading.Event()
        self.starting = True
        self._readings = readings
        self._plane: LocalPlane | None = None
        self._server: PlaneServer | None = None
        self._notifications: NotificationLog | None = None
        self._started_at = ""

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        self.stopping.set()
        if self.starting:
            raise _Stopped

    def start(self) -> None:
        self.plane_file.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)  # a plane that died without stopping left it
        self.root.mkdir()
        began = time.monotonic()
        log.info("starting the local plane in %s (pid %d)", self.root, os.getpid())
        from freshtrack_ops.tasks import WORKFLOWS
        from opsctl.local.names import REGION
        from opsctl.local.plane import LocalPlane

        options: dict[str, Any] = {} if self._readings is None else {"readings": self._readings}
        # assigned once started: a plane whose start failed (or was interrupted) has stopped itself
        self._plane = LocalPlane(root=self.root, hosts=HOSTS, ssm_hosts=SSM_HOSTS, **options).start()
        for note in self._plane.notes:
            log.warning("%s", note)
        self._started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self._server = PlaneServer(self.status)
        endpoint_url = self._server.start()
        self._notifications = NotificationLog(self.state_dir / NOTIFICATIONS_FILE, self._plane.notifications)
        write_atomically(
            self.plane_file,
            {
                "pid": os.getpid(),
                "endpoint_url": endpoint_url,
                "region": REGION,
                "outputs": outputs_of(self._plane, WORKFLOWS),
                "hosts": list(HOSTS),
                "transport": self._plane.transport,
                "started_at": self._started_at,
            },
        )
        self.starting = False
        log.info("ready in %.1f s at %s", time.monotonic() - began, endpoint_url)

    def status(self) -> dict[str, Any]:
        from opsctl.local import iam

        return {
            "pid": os.getpid(),
            "started_at": self._started_at,
            "iam": {"checked": sum(iam.STATE.checked.values()), "denials": list(iam.STATE.denials)},
        }

    def serve(self) -> None:
        """Until a signal: new notifications to ``notifications.jsonl``, new IAM denials to the log."""
        from opsctl.local import iam

        assert self._notifications is not None
        logged = 0
        while not self.stopping.wait(NOTIFICATION_POLL_S):
            try:
                self._notifications.poll()
            except Exception:  # the next poll tries again: a daemon must not die of one failed read
                log.exception("reading the notifications failed")
            for denial in iam.STATE.denials[logged:]:
                log.warning("IAM denied a task's call: %s", denial)
            logged = len(iam.STATE.denials)
        self._notifications.poll()

    def close(self) -> None:
        self.starting = False  # a second signal must not interrupt the cleanup
        self.plane_file.unlink(missing_ok=True)
        if self._server is not None:
            self._server.stop()
        try:
            if self._plane is not None:
                self._plane.stop()  # SecretLeak when the secrets scan is on and found something: after stopping
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
        log.info("stopped")


def run(state_dir: Path, *, readings: int | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; 0 then, 1 if the plane could not start, 2 if a daemon already runs."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    log.setLevel(logging.INFO)
    # the task policies are built by the CDK code (``iam``): jsii's banner about Node 20 says nothing here
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = _hold_lifetime_lock(state_dir)
    if lock is None:
        log.error("another daemon holds %s: not starting a second plane on this directory", state_dir / LIFETIME_LOCK)
        return 2
    daemon = Daemon(state_dir, readings)
    signal.signal(signal.SIGTERM, daemon.on_signal)
    signal.signal(signal.SIGINT, daemon.on_signal)
    try:
        daemon.start()
        daemon.serve()
        return 0
    except _Stopped:
        return 0
    except Exception:
        log.exception("the local plane failed")
        return 1
    finally:
        daemon.close()
        lock.close()
