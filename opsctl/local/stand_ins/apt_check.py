"""Ubuntu's ``/usr/lib/update-notifier/apt-check`` stand-in over ``apt.json`` (``{"updates": n, "security": m}``;
missing: nothing pending).

apt-check (update-notifier-common) prints ``<updates>;<security updates>`` on stderr, nothing on stdout, and
exits 0; ``--human-readable`` prints sentences instead (the stand-in's are the first two of Ubuntu 22.04's).
The daily check finds it through ``FTOPS_APT_CHECK``, which only the local host's session environment sets
(``LocalHost.env``): the real path may exist on the machine running the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from opsctl.local.stand_ins import files

STATE_FILE = "apt.json"


def default_state() -> dict[str, Any]:
    return {"updates": 0, "security": 0}


def path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def set_pending(state_dir: Path, *, updates: int, security: int) -> None:
    if not 0 <= security <= updates:
        raise ValueError(f"security: must be 0..updates {updates} (got {security})")

    def change(data: dict[str, Any]) -> None:
        data.update(updates=updates, security=security)

    files.update(path(state_dir), default_state, change)


def main(state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    data = files.read(path(state_dir), default_state)
    updates, security = int(data["updates"]), int(data["security"])
    if args == ["--human-readable"]:
        out.write(
            f"{updates} updates can be applied immediately.\n"
            f"{security} of these updates are standard security updates.\n"
        )
        return 0
    if args:
        err.write("apt-check stand-in: only no arguments or --human-readable\n")
        return 2
    err.write(f"{updates};{security}")
    return 0
