"""``df`` stand-in that reports a chosen use of one filesystem (``disk.json``: ``{"mount": "/",
"used_percent": 91}``, written by ``LocalHost.set_disk_use``). Without the file the wrapper runs the real df
directly (``write_df_wrapper``), so nothing changes for anyone else.

With the file, the real df runs with the same arguments and, when its output is POSIX format (``-P``), the
line of the filesystem mounted at ``mount`` is rewritten: its size stays, Used becomes ``used_percent`` of it,
Available the rest, Capacity ``used_percent``%. Other formats (``df -h``) pass through unchanged.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, TextIO

from opsctl.local.stand_ins import PROGRAM, files, python_exec

STATE_FILE = "disk.json"


def path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def set_use(state_dir: Path, mount: str, used_percent: int | None) -> None:
    if used_percent is None:
        path(state_dir).unlink(missing_ok=True)
        return
    if not 0 <= used_percent <= 100:
        raise ValueError(f"used_percent: expected 0..100 (got {used_percent})")

    def change(data: dict[str, Any]) -> None:
        data.update(mount=mount, used_percent=used_percent)

    files.update(path(state_dir), dict, change)


def write_df_wrapper(bin_dir: Path, state_dir: Path, real_df: str) -> Path:
    wrapper = bin_dir / "df"
    state, real = shlex.quote(str(state_dir)), shlex.quote(real_df)
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        "# df of the opsctl local host (tests and local plane only): the real df unless a disk use is set\n"
        f"if [[ -f {shlex.quote(str(path(state_dir)))} ]]; then\n"
        f'  {python_exec(PROGRAM)} df --state {state} {real} "$@"\n'
        "fi\n"
        f'exec {real} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def _rewrite(line: str, used_percent: int) -> str:
    fields = line.split(maxsplit=5)
    size = int(fields[1])
    used = size * used_percent // 100
    return f"{fields[0]} {size} {used} {size - used} {used_percent}% {fields[5]}"


def main(state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    real, rest = args[0], args[1:]
    proc = subprocess.run([real, *rest], capture_output=True, text=True, check=False)
    err.write(proc.stderr)
    fault = files.read(path(state_dir), dict)
    posix = any(arg == "--portability" or (arg[:1] == "-" and arg[1:2] != "-" and "P" in arg) for arg in rest)
    lines = proc.stdout.splitlines()
    for index, line in enumerate(lines):
        fields = line.split(maxsplit=5)
        if posix and index > 0 and len(fields) == 6 and fields[5] == fault.get("mount") and fields[1].isdigit():
            lines[index] = _rewrite(line, int(fault["used_percent"]))
    out.write("".join(f"{line}\n" for line in lines))
    return proc.returncode
