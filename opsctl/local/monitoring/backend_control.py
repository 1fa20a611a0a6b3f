"""The backend process as the docker shim sees it: the ``backend`` service's container, in monitoring mode.

A host set up with monitoring has ``monitoring.json`` in the shim's state dir (written by the plane, ``configure``):
the command that runs the backend process, its port, and its environment. The shim then starts the process when
the backend container starts (``compose start|up|restart``) and stops it (SIGTERM, wait) when the container stops
(``compose stop|down|restart``, a crash): ``follow``. Without that file nothing here does anything, and the shim
behaves as it always did. Standard library only (the shim imports it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# ``process`` (subprocess, socket, ssl, urllib) is imported where it is used, in monitoring mode only: every docker
# call of a host is a new shim process, and importing it there was a fifth of the shim's start (-X importtime)

SPEC_FILE = "monitoring.json"
PID_FILE = "backend.pid"
LOCK_FILE = "backend.lock"
LOG_FILE = "backend-process.log"
#: how long ``compose start`` waits for the backend to listen (as a container's start returns once it runs)
READY_TIMEOUT_S = 15.0


def configure(state_dir: Path, *, argv: Sequence[str], port: int, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    """Put the host in monitoring mode: the backend container is the process ``argv`` listening on ``port``."""
    spec = {"backend": {"argv": list(argv), "port": port, "env": dict(env), "cwd": str(cwd)}}
    tmp = state_dir / f".{SPEC_FILE}.tmp"
    tmp.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    tmp.replace(state_dir / SPEC_FILE)
    return spec


def spec(state_dir: Path) -> dict[str, Any] | None:
    """The backend's spec when the host is in monitoring mode, else None."""
    try:
        data = json.loads((state_dir / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    backend = data.get("backend") if isinstance(data, dict) else None
    return backend if isinstance(backend, dict) else None


def marker(state_dir: Path) -> str:
    """What the backend's command line holds (``--state <dir>``): how its pid is told from a recycled one."""
    return str(state_dir)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    # its own lock, not state.lock: the shim holds that one while it changes state.json, and flock on a second
    # descriptor of the same file would wait for ourselves
    with (state_dir / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def running(state_dir: Path) -> int | None:
    from opsctl.local.monitoring import process

    return process.running(state_dir / PID_FILE, marker(state_dir))


def follow(state_dir: Path, *, service_running: bool, restarted: bool = False) -> None:
    """Make the backend process match its container: running (started when it is not, or anew when the
    container was ``restarted``/recreated) or stopped. Nothing without monitoring mode."""
    backend = spec(state_dir)
    if backend is None:
        return
    from opsctl.local.monitoring import process

    with _locked(state_dir):
        if restarted or not service_running:
            process.stop(state_dir / PID_FILE, marker(state_dir))
        if service_running and running(state_dir) is None:
            _start(state_dir, backend)


def stop(state_dir: Path) -> bool:
    """Stop the backend process if it runs (the host is being torn down); True when one ran."""
    if not (state_dir / PID_FILE).exists():
        return False
    from opsctl.local.monitoring import process

    with _locked(state_dir):
        return process.stop(state_dir / PID_FILE, marker(state_dir))


def _start(state_dir: Path, backend: dict[str, Any], attempts: int = 2) -> None:
    """Start the backend process and wait for its port; once more when it died starting (a loaded machine)."""
    from opsctl.local.monitoring import process

    for attempt in range(attempts):
        try:
            _start_once(state_dir, backend)
            return
        except process.DaemonError:
            if attempt == attempts - 1:
                raise


def _start_once(state_dir: Path, backend: dict[str, Any]) -> None:
    from opsctl.local.monitoring import process

    log_file = state_dir / LOG_FILE
    pid = process.spawn(
        [str(a) for a in backend["argv"]],
        pid_file=state_dir / PID_FILE,
        log_file=log_file,
        env={str(k): str(v) for k, v in backend.get("env", {}).items()},
        cwd=Path(backend.get("cwd") or state_dir),
    )
    try:
        process.wait_port(
            int(backend["port"]), pid=pid, marker=marker(state_dir), log_file=log_file, timeout_s=READY_TIMEOUT_S
        )
    except process.DaemonError:
        process.stop(state_dir / PID_FILE, marker(state_dir))
        raise
