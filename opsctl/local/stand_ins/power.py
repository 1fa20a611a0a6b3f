"""``reboot``, ``shutdown -r``, ``systemctl reboot`` and ``systemd-run [--on-active=N] systemctl reboot`` stand-ins:
each only asks the local host to reboot, by writing ``reboot-request.json`` (``{"pid": <the caller>, "delay_s": n}``)
in its state dir; the LocalHost's watcher thread powers the host off once the calling command has ended (or the
delay has passed, as a real timer would fire) and on again after ``LocalHost.reboot_delay_s``
(opsctl/local/host.py). Anything else these commands could do (power off, halt, manage units) is refused: the
stand-ins exist so that no host script ever reboots the machine running the tests.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TextIO

REQUEST_FILE = "reboot-request.json"
TOOLS = ("reboot", "shutdown", "systemctl", "systemd-run")


def request_path(state_dir: Path) -> Path:
    return state_dir / REQUEST_FILE


def request(state_dir: Path, delay_s: float) -> None:
    """Ask for a reboot ``delay_s`` from now, on behalf of this process's parent (the command that ran us)."""
    tmp = state_dir / f".{REQUEST_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"pid": os.getppid(), "delay_s": delay_s, "at": time.time()}), encoding="utf-8")
    tmp.replace(request_path(state_dir))


def _shutdown_delay(args: list[str]) -> float | None:
    """``shutdown -r [now|+M]``: the delay in seconds; None for anything but a reboot."""
    if "-r" not in args and "--reboot" not in args:
        return None
    when = [a for a in args if not a.startswith("-")]
    if not when or when[0] in ("now", "+0"):
        return 0.0
    if when[0].startswith("+") and when[0][1:].isdigit():
        return 60.0 * int(when[0][1:])
    return None


def _systemd_run_delay(args: list[str]) -> float | None:
    """``systemd-run [--quiet] [--on-active=N] [--timer-property=...] <path>/systemctl reboot``."""
    delay = 0.0
    rest = list(args)
    while rest and rest[0].startswith("--"):
        option = rest.pop(0)
        if option.startswith("--on-active="):
            value = option.removeprefix("--on-active=").removesuffix("s")
            if not value.isdigit():
                return None
            delay = float(value)
    if len(rest) == 2 and Path(rest[0]).name == "systemctl" and rest[1] == "reboot":
        return delay
    return None


def main(tool: str, state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    delay: float | None
    if tool == "reboot":
        delay = 0.0 if all(a in ("-f", "--force") for a in args) else None
    elif tool == "shutdown":
        delay = _shutdown_delay(args)
    elif tool == "systemctl":
        delay = 0.0 if args == ["reboot"] else None
    else:
        delay = _systemd_run_delay(args)
    if delay is None:
        err.write(f"{tool}: the local host's stand-in only reboots (got {' '.join(args) or 'no arguments'})\n")
        return 1
    request(state_dir, delay)
    if tool == "systemd-run" and "--quiet" not in args and "-q" not in args:
        err.write("Running timer as unit: run-r0ftops.timer\nWill run service as unit: run-r0ftops.service\n")
    return 0
