"""The local plane as a background process that any boto3 client reaches through one endpoint URL.

Why a process of its own: each ``opsctl --local ...`` call is a process of its own, and moto's backends (the
executions, the ops table, the bucket) live in the memory of ONE process. So the plane runs in a detached
daemon (``python -m opsctl.local.daemon --state-dir D``; ``daemon_process``) that also serves moto's HTTP API
for every service on ``http://127.0.0.1:<port>`` from the same backends; a CLI call then runs the very boto3
code it runs against AWS, with ``endpoint_url`` set (``client``), and reads the stack outputs from
``PlaneEndpoint.outputs`` instead of CloudFormation.

    endpoint = ensure_running()                  # reuse the running daemon, or start one and wait until ready
    sfn = client(endpoint, "stepfunctions")
    sfn.start_execution(stateMachineArn=endpoint.outputs["BackupStateMachineArn"], input=...)
    notifications(endpoint)                      # what the plane published to its SNS topic
    stop()                                       # SIGTERM: the plane stops its hosts, the daemon exits

Files, in the state directory (``default_state_dir()``: ``$FRESHTRACK_OPS_LOCAL_DIR``, else
``$XDG_STATE_HOME/freshtrack-ops/local-plane``, ``~/.local/state/...`` without it):

* ``plane.json``: written atomically once the daemon is ready, removed when it stops (pid, endpoint_url,
  region, outputs, hosts, started_at); one naming a dead pid is stale and means "not running";
* ``plane.log``: the daemon's stdout and stderr (no request lines: presigned URLs are credentials);
* ``notifications.jsonl``: every SNS notification, one JSON object a line, appended as they are published;
* ``plane/``: the plane's root (the hosts' PostgreSQL, app directories, sshd), there for inspection while it
  runs, removed when it stops;
* ``daemon.lock`` (taken by ``ensure_running`` and ``stop``: two concurrent starts start one daemon) and
  ``plane.lock`` (held by the daemon for its life: never two daemons on one directory).

This module imports neither moto nor boto3 (``client`` imports boto3 when called): a CLI call that only asks
``status`` stays fast.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = [
    "PlaneEndpoint",
    "PlaneStartFailed",
    "client",
    "default_state_dir",
    "diagnostics",
    "ensure_running",
    "notifications",
    "status",
    "stop",
]

STATE_DIR_ENV = "FRESHTRACK_OPS_LOCAL_DIR"
PLANE_FILE = "plane.json"
LOG_FILE = "plane.log"
NOTIFICATIONS_FILE = "notifications.jsonl"
START_LOCK = "daemon.lock"
LIFETIME_LOCK = "plane.lock"
PLANE_ROOT = "plane"
#: the daemon's own route on the endpoint (moto answers every other path)
STATUS_PATH = "/ftops-plane/status"
#: what ``client`` signs with: the plane accepts any credentials, and never gets a real key from here
DUMMY_ACCESS_KEY = "AKIAFTOPSLOCALPLANE0"
DUMMY_SECRET_KEY = "local-plane-dummy-secret"  # noqa: S105 - a fixed dummy key, not a secret
#: lines of plane.log quoted by the errors
LOG_TAIL_LINES = 30


class PlaneStartFailed(RuntimeError):
    """The local plane could not be started (or reached): the message says why, with the last lines of its log."""


@dataclass(frozen=True)
class PlaneEndpoint:
    """A running local plane: where to send every AWS call, and what its stacks would output."""

    endpoint_url: str
    region: str
    outputs: dict[str, str]
    hosts: tuple[str, ...]
    pid: int
    state_dir: Path


def default_state_dir() -> Path:
    """``$FRESHTRACK_OPS_LOCAL_DIR``, else ``$XDG_STATE_HOME`` (or ``~/.local/state``)/freshtrack-ops/local-plane."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home).expanduser() / "freshtrack-ops" / "local-plane"


def status(state_dir: Path | None = None) -> PlaneEndpoint | None:
    """The running daemon of ``state_dir``: its ``plane.json`` names a live pid and its endpoint answers as that
    pid; else None (no file, a stale file, or a process that does not answer)."""
    directory = state_dir or default_state_dir()
    endpoint = _read_plane_file(directory)
    if endpoint is None or not pid_alive(endpoint.pid):
        return None
    answer = _status_answer(endpoint.endpoint_url, timeout_s=5)
    if answer is None or answer.get("pid") != endpoint.pid:
        return None
    return endpoint


def ensure_running(
    state_dir: Path | None = None,
    *,
    timeout_s: float = 240,
    on_starting: Callable[[], None] | None = None,
) -> PlaneEndpoint:
    """The running daemon of ``state_dir``, or a new one started detached (its own session, its output in
    ``plane.log``) and waited for: ``on_starting()`` is called once, just after it was launched. Raises
    ``PlaneStartFailed`` quoting the last lines of its log when the daemon exited while starting, was not ready
    within ``timeout_s`` (it is then stopped), or runs but does not answer."""
    directory = state_dir or default_state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with _locked(directory / START_LOCK, timeout_s, busy=PlaneStartFailed):
        running = status(directory)
        if running is not None:
            return running
        recorded = _read_plane_file(directory)
        if recorded is not None and pid_alive(recorded.pid):
            raise PlaneStartFailed(
                f"the local plane's daemon (pid {recorded.pid}) in {directory} does not answer at "
                f"{recorded.endpoint_url}; stop it first (`opsctl local down`, or kill {recorded.pid})"
                + _log_tail(directory)
            )
        (directory / PLANE_FILE).unlink(missing_ok=True)  # stale: its process is gone
        process = _spawn(directory)
        if on_starting is not None:
            on_starting()
        return _wait_ready(directory, process, deadline, timeout_s)


def stop(state_dir: Path | None = None, timeout_s: float = 60) -> bool:
    """SIGTERM the running daemon of ``state_dir`` and wait until it has exited (it stops the plane and removes
    ``plane.json``); True if one was running. Raises ``TimeoutError`` if it is still there after ``timeout_s``."""
    directory = state_dir or default_state_dir()
    if not directory.is_dir():
        return False
    deadline = time.monotonic() + timeout_s
    with _locked(directory / START_LOCK, timeout_s):
        recorded = _read_plane_file(directory)
        if recorded is None or not pid_alive(recorded.pid):
            (directory / PLANE_FILE).unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(recorded.pid, signal.SIGTERM)
        if not _wait_gone(recorded.pid, deadline):
            raise TimeoutError(
                f"the local plane's daemon (pid {recorded.pid}) still runs {timeout_s} s after SIGTERM"
                + _log_tail(directory)
            )
        (directory / PLANE_FILE).unlink(missing_ok=True)
        return True


def client(endpoint: PlaneEndpoint, service: str) -> Any:
    """A boto3 client of ``service`` on the plane's endpoint, in its region, with fixed dummy credentials (the
    environment's AWS credentials and profile are never used)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY, aws_secret_access_key=DUMMY_SECRET_KEY, region_name=endpoint.region
    )
    return session.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint.endpoint_url,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"}),
    )


def notifications(endpoint: PlaneEndpoint) -> list[dict[str, Any]]:
    """Every SNS notification the plane published since it started, oldest first: ``{"Subject", "Message"}``."""
    path = endpoint.state_dir / NOTIFICATIONS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    # the daemon appends whole lines: a last line without its newline is still being written
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def diagnostics(endpoint: PlaneEndpoint) -> dict[str, Any]:
    """What the daemon says of itself (``pid``, ``started_at``, ``iam``: how many task authorizations were checked
    and the denials), asked over its endpoint."""
    answer = _status_answer(endpoint.endpoint_url, timeout_s=10)
    if answer is None:
        raise RuntimeError(f"the local plane does not answer at {endpoint.endpoint_url}")
    return answer


# -- the files and the process ----------------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in {"Z", "X"}


def _read_plane_file(directory: Path) -> PlaneEndpoint | None:
    try:
        data = json.loads((directory / PLANE_FILE).read_text(encoding="utf-8"))
        return PlaneEndpoint(
            endpoint_url=str(data["endpoint_url"]),
            region=str(data["region"]),
            outputs={str(k): str(v) for k, v in data["outputs"].items()},
            hosts=tuple(str(h) for h in data["hosts"]),
            pid=int(data["pid"]),
            state_dir=directory,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _status_answer(endpoint_url: str, timeout_s: float) -> dict[str, Any] | None:
    if not endpoint_url.startswith("http://127.0.0.1:"):
        return None  # the plane only ever listens there: never ask another address
    try:
        with urllib.request.urlopen(endpoint_url + STATUS_PATH, timeout=timeout_s) as response:  # noqa: S310 - http://127.0.0.1 only
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(path: Path, timeout_s: float, busy: type[Exception] = TimeoutError) -> Iterator[None]:
    """An exclusive flock on ``path``, waiting up to ``timeout_s`` (then raises ``busy``: another start or stop
    of the plane has not ended)."""
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy(
                        f"{path} is still locked after {timeout_s} s: another start or stop of the local plane runs"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: daemons this process started (pid -> process): reaped by ``stop``, so no zombie is taken for alive
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(directory: Path) -> subprocess.Popen[bytes]:
    """``python -m opsctl.local.daemon --state-dir D`` in a session of its own, outliving the caller."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([*_package_roots(), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    with (directory / LOG_FILE).open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opsctl.local.daemon", "--state-dir", str(directory.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    return process


def _package_roots() -> list[str]:
    """The directories ``opsctl`` and ``freshtrack_ops`` are imported from here (the daemon runs in the state
    directory, so the caller's working directory must not matter)."""
    roots: list[str] = []
    for package in ("opsctl", "freshtrack_ops"):
        spec = find_spec(package)
        if spec is not None and spec.origin is not None:
            root = str(Path(spec.origin).resolve().parent.parent)
            if root not in roots:
                roots.append(root)
    return roots


def _wait_ready(directory: Path, process: subprocess.Popen[bytes], deadline: float, timeout_s: float) -> PlaneEndpoint:
    while True:
        code = process.poll()
        if code is not None:
            _CHILDREN.pop(process.pid, None)
            raise PlaneStartFailed(f"the local plane's daemon exited with {code} while starting" + _log_tail(directory))
        recorded = _read_plane_file(directory)
        if recorded is not None and recorded.pid == process.pid:
            running = status(directory)
            if running is not None:
                return running
        if time.monotonic() > deadline:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(60)
            raise PlaneStartFailed(f"the local plane was not ready within {timeout_s} s" + _log_tail(directory))
        time.sleep(0.1)


def _wait_gone(pid: int, deadline: float) -> bool:
    child = _CHILDREN.get(pid)
    while True:
        if child is not None and child.poll() is not None:
            _CHILDREN.pop(pid, None)
            return True
        if child is None and not pid_alive(pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _log_tail(directory: Path) -> str:
    try:
        lines = (directory / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f" (no log at {directory / LOG_FILE})"
    tail = "\n".join(lines[-LOG_TAIL_LINES:])
    return f"; last lines of {directory / LOG_FILE}:\n{tail}"


def main(argv: list[str] | None = None) -> int:
    """``python -m opsctl.local.daemon --state-dir D``: run the daemon in this process until SIGTERM/SIGINT."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m opsctl.local.daemon", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: $FRESHTRACK_OPS_LOCAL_DIR or ...")
    parser.add_argument("--readings", type=int, default=None, help="temperature readings seeded per host")
    args = parser.parse_args(argv)
    from opsctl.local.daemon_process import run

    return run(args.state_dir or default_state_dir(), readings=args.readings)


if __name__ == "__main__":
    sys.exit(main())
