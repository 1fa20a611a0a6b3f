"""Daemons of the monitoring stack: started in their own session with a pid file, found again by pid file, stopped
with SIGTERM (then SIGKILL), and readiness waits on a TCP port or an HTTP URL.

Standard library only: the docker shim imports it (``docker_shim.compose`` starts and stops the backend process).
A pid file alone could name a recycled pid, so a process counts as ours only while its ``/proc/<pid>/cmdline``
still holds the marker we started it with (its config or state path), and a zombie counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_S = 5.0
#: util-linux ``setpriv --pdeathsig``: the daemon gets SIGTERM when the thread that started it ends, so a plane
#: process killed before it could stop its daemons takes them along
SETPRIV = Path("/usr/bin/setpriv")


class DaemonError(RuntimeError):
    """A daemon did not start, or did not become ready in time (its log's tail is in the message)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> int:
    """Start ``argv`` in a new session (setsid: no terminal, its own process group), output to ``log_file``;
    the pid is written to ``pid_file``. The caller keeps no handle: whoever stops it goes by the pid file.
    ``die_with_parent``: SIGTERM it when the calling thread ends (``SETPRIV``, when installed)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    prefix = [str(SETPRIV), "--pdeathsig", "TERM", "--"] if die_with_parent and SETPRIV.exists() else []
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    tmp = pid_file.with_name(f".{pid_file.name}.tmp")
    tmp.write_text(f"{proc.pid}\n", encoding="utf-8")
    tmp.replace(pid_file)
    return proc.pid


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int, marker: str) -> bool:
    """``pid`` runs (not a zombie) and its command line holds ``marker``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    # the state is the field after the parenthesised command name (which may itself hold spaces)
    state = stat.rpartition(")")[2].split()[0] if ")" in stat else "?"
    return state not in {"Z", "X"} and marker in cmdline


def running(pid_file: Path, marker: str) -> int | None:
    """The pid of the daemon ``pid_file`` names when it still runs, else None."""
    pid = read_pid(pid_file)
    return pid if pid is not None and alive(pid, marker) else None


def stop(pid_file: Path, marker: str, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the daemon's process group, wait up to ``timeout_s``, then SIGKILL; the pid file is removed.
    True when something was running."""
    pid = running(pid_file, marker)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid, marker) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.02)
        if alive(pid, marker):
            _signal_group(pid, signal.SIGKILL)
            while alive(pid, marker) and time.monotonic() < deadline + 2:
                _reap(pid)
                time.sleep(0.02)
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # the daemon leads its own session (spawn), so its group id is its pid: children go with it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the daemon is this process's child (else a zombie lingers until then)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_port(port: int, *, pid: int, marker: str, log_file: Path, timeout_s: float = 10.0) -> None:
    """Until 127.0.0.1:``port`` accepts a connection; DaemonError when the daemon died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        _check(pid, marker, log_file, deadline, f"port {port}")
        time.sleep(0.02)


def wait_http(
    url: str,
    *,
    pid: int,
    marker: str,
    log_file: Path,
    timeout_s: float = 10.0,
    context: ssl.SSLContext | None = None,
    any_status: bool = False,
) -> None:
    """Until ``url`` answers 200 (any HTTP status with ``any_status``: the server is up, whatever it says)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0, context=context) as response:  # noqa: S310 - our daemon
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if any_status:
                return
            exc.close()
        except (OSError, ssl.SSLError):
            pass
        _check(pid, marker, log_file, deadline, url)
        time.sleep(0.03)


def _alive_after(pid: int, marker: str, seconds: float) -> bool:
    time.sleep(seconds)
    return alive(pid, marker)


def _check(pid: int, marker: str, log_file: Path, deadline: float, what: str) -> None:
    # read twice before calling it dead: one read of /proc can catch a process between fork and exec (its command
    # line not yet the daemon's) on a loaded machine
    if not alive(pid, marker) and not _alive_after(pid, marker, 0.2):
        raise DaemonError(f"{marker}: exited before {what} was ready: {log_tail(log_file)}")
    if time.monotonic() > deadline:
        raise DaemonError(f"{marker}: {what} not ready in time: {log_tail(log_file)}")


class HttpDaemon:
    """A daemon of the stack with an HTTP readiness endpoint (``/-/ready``) on 127.0.0.1: its files under ``root``
    (``<name>.yml``, ``.pid``, ``.log``), started by ``run(argv)``, stopped by its pid file."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.port = 0
        self.config_file = root / f"{name}.yml"
        self.pid_file = root / f"{name}.pid"
        self.log_file = root / f"{name}.log"
        self._pid = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, argv: list[str]) -> None:
        self._pid = spawn(argv, pid_file=self.pid_file, log_file=self.log_file, cwd=self.root, die_with_parent=True)

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        wait_http(
            f"{self.url}/-/ready", pid=self._pid, marker=str(self.config_file), log_file=self.log_file,
            timeout_s=timeout_s,
        )  # fmt: skip

    def stop(self) -> None:
        stop(self.pid_file, str(self.config_file))
