"""Fault injection: ``faults.json`` in the state dir, keyed by command name (``pg_dump``, ``pg_restore``, ...)
or by ``compose:<subcommand>``; LocalHost.set_fault writes it, the shim claims a fault when a call runs.

A fault for an exec'd command is one of:

- ``{"wait_for": PATH}``: hold the command until PATH exists, then run it (``held_until``): a test keeps a
  lock or a state busy for exactly as long as it needs, instead of guessing a delay;
- ``{"delay_s": S}``: sleep, then run the command (a slow command: one that must outlive a timeout);
- ``{"fail": true, "message": "...", "exit_code": 1}``: print an error, exit without running it (stdin is
  drained first unless it is a terminal, like a pg_restore reporting errors at the end);
- ``{"stdout": TEXT}``: print TEXT, exit 0 (or ``exit_code``) without running the command: a command that answers
  what the test needs, e.g. ``df`` of a nearly full database volume (``LocalHost.set_pgdata_free_mb``);
- ``{"drop_connection_after_bytes": N}``: forward N bytes of stdout, then SIGKILL the sshd session that runs
  us (a dropped SSH connection mid-stream); exit 255 when there is no such session.

and may add ``unless_arg`` (calls carrying that argument are spared, e.g. a ``pg_restore --list`` while real
restores fail) and ``times`` (the fault fires only N times). ``compose:<sub>`` takes ``fail``, ``message``
and ``times``.

``stats`` is no command's fault but ``docker stats``' numbers: ``{"stats": {"backend": {"mem_percent": 96.0}}}``
makes the service's MEM % 96 (a leak, the manual's High Memory Usage), ``"cpu_percent"`` its CPU % (the manual's
High CPU Usage), until its container stops or restarts
(``ShimState.set_service`` forgets it then, as a new process starts with fresh memory).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from opsctl.local.docker_shim.state import ShimError, ShimState, write_json_atomic

SSHD_COMMS = frozenset({"sshd", "sshd-session"})
FAULTS_FILE = "faults.json"
#: how long a ``wait_for`` fault holds a command at most: a test that never releases it fails, it does not hang
HOLD_TIMEOUT_S = 120.0


def held_until(release: Path, timeout_s: float) -> bool:
    """The ``wait_for`` fault: wait until ``release`` exists (False after ``timeout_s``). ``<release>.held.<pid>``
    is written first, so a test can wait until the command has really reached the hold. Polled (the shim is
    standard library only); a TERM or KILL ends the wait like any command."""
    release.with_name(f"{release.name}.held.{os.getpid()}").touch()
    deadline = time.monotonic() + timeout_s
    while not release.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _after_hold(name: str, fault: dict[str, Any], err: TextIO) -> dict[str, Any] | None:
    """The rest of ``fault`` once its ``wait_for`` hold is released (all of it when it has none), or None when
    the release never came (the command does not run)."""
    if "wait_for" not in fault:
        return fault
    if not held_until(Path(str(fault["wait_for"])), float(fault.get("timeout_s", HOLD_TIMEOUT_S))):
        err.write(f"{name}: opsctl fault {name}.wait_for: {fault['wait_for']} never appeared\n")
        err.flush()
        return None
    return {key: value for key, value in fault.items() if key not in ("wait_for", "timeout_s")}


def set_fault(state: ShimState, name: str, spec: dict[str, Any] | None) -> None:
    """Set (or clear with None) one fault; the file is removed when no fault is left."""
    path = state.dir / FAULTS_FILE
    with state.locked():
        faults = state.faults()
        if spec is None:
            faults.pop(name, None)
        else:
            faults[name] = spec
        if faults:
            write_json_atomic(path, faults)
        else:
            path.unlink(missing_ok=True)


def set_stats_fault(state: ShimState, service: str, mem_percent: float | None, *, key: str = "mem_percent") -> None:
    """Make ``docker stats`` report ``mem_percent`` for ``service`` (None: its real, deterministic number);
    ``key="cpu_percent"``: its CPU % instead (a runaway process, the manual's High CPU Usage)."""
    with state.locked():
        faults = state.faults()
        stats = dict(faults.get("stats") or {})
        entry = dict(stats.get(service) or {})
        if mem_percent is None:
            entry.pop(key, None)
        else:
            entry[key] = float(mem_percent)
        if entry:
            stats[service] = entry
        else:
            stats.pop(service, None)
        if stats:
            faults["stats"] = stats
        else:
            faults.pop("stats", None)
        path = state.dir / FAULTS_FILE
        if faults:
            write_json_atomic(path, faults)
        else:
            path.unlink(missing_ok=True)


def stats_faults(state: ShimState, key: str = "mem_percent") -> dict[str, float]:
    """The MEM % (``key="cpu_percent"``: the CPU %) the ``stats`` fault sets, per service."""
    stats = state.faults().get("stats")
    if not isinstance(stats, dict):
        return {}
    return {str(service): float(spec[key]) for service, spec in stats.items() if isinstance(spec, dict) and key in spec}


def check_compose(state: ShimState, sub: str) -> None:
    """Raise the injected failure of ``docker compose <sub>``, if any."""
    fault = claim(state, f"compose:{sub}", [])
    if fault and fault.get("fail"):
        raise ShimError(str(fault.get("message", f"injected failure of docker compose {sub}")))


def claim(state: ShimState, name: str, argv: list[str]) -> dict[str, Any] | None:
    """The fault for this call of command ``name``, if any (counting down its ``times``)."""
    with state.locked():
        faults = state.faults()
        fault = faults.get(name)
        if not isinstance(fault, dict) or not fault:
            return None
        if fault.get("unless_arg") in argv:
            return None
        if "times" in fault:
            remaining = int(fault["times"]) - 1
            if remaining > 0:
                faults[name] = fault | {"times": remaining}
            else:
                faults.pop(name)
            write_json_atomic(state.dir / FAULTS_FILE, faults)
    return {k: v for k, v in fault.items() if k not in ("times", "unless_arg")}


def _answer_without_running(name: str, fault: dict[str, Any], err: TextIO) -> int | None:
    """The ``fail`` and ``stdout`` faults: the command's exit status, without running it (None: neither)."""
    if fault.get("fail"):
        if not sys.stdin.isatty():
            with contextlib.suppress(OSError):
                while sys.stdin.buffer.read(1 << 20):
                    pass
        msg = fault.get("message") or f"{name}: error: injected failure (opsctl fault {name}.fail)"
        err.write(f"{msg}\n")
        err.flush()
        return int(fault.get("exit_code", 1))
    if "stdout" in fault:
        sys.stdout.write(str(fault["stdout"]))
        sys.stdout.flush()
        return int(fault.get("exit_code", 0))
    return None


def run_with_fault(
    state: ShimState, exe: str, argv: list[str], env: dict[str, str], fault: dict[str, Any], *, err: TextIO
) -> int:
    """Run (or not) the exec'd command ``argv`` as ``fault`` says; see the module docs."""
    name = Path(argv[0]).name
    rest = _after_hold(name, fault, err)
    if rest is None:
        return 124
    if not rest:  # a hold and nothing else: run the command for real
        os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606
    fault = rest
    delay = float(fault.get("delay_s", 0))
    if delay > 0:
        time.sleep(delay)
        if set(fault) == {"delay_s"}:
            os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606
    answered = _answer_without_running(name, fault, err)
    if answered is not None:
        return answered
    limit = fault.get("drop_connection_after_bytes")
    if limit is None:
        raise ShimError(f"unknown fault for {name}: {fault}")
    proc = subprocess.Popen([exe, *argv[1:]], env=env, stdout=subprocess.PIPE, cwd="/")
    assert proc.stdout is not None
    remaining = int(limit)
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536) if remaining > 0 else b""
        if not chunk:
            break
        piece = chunk[:remaining]
        _write_all(1, piece)
        remaining -= len(piece)
        if remaining <= 0:
            break
    if remaining > 0:  # the command finished before the limit: no fault triggered
        return proc.wait()
    err.flush()
    _drop_ssh_connection(state)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    os._exit(255)


def _drop_ssh_connection(state: ShimState) -> None:
    listener = _read_pid(state.dir / "sshd.pid")
    for pid in _sshd_ancestors(os.getpid(), listener):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) of a process from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1])


def _sshd_ancestors(pid: int, listener: int | None) -> list[int]:
    """sshd processes above ``pid`` (nearest first), excluding the listening sshd and anything above it."""
    found: list[int] = []
    current = pid
    while current > 1:
        stat = _proc_stat(current)
        if stat is None:
            break
        comm, ppid = stat
        if current == listener:
            break
        if comm in SSHD_COMMS and current != pid:
            found.append(current)
        current = ppid
    return found
