"""Stand-ins for the host's system commands that cannot run here without changing this machine: ``fail2ban-client``
(and, later in this package, ``ufw``, Ubuntu's ``apt-check`` and a ``df`` that can report a full disk). Tests and
the local plane only; never deployed.

Like the docker shim, each is a standard-library-only program: ``python -I -S PROGRAM <tool> --state STATE_DIR
<args>``, run by a wrapper the local host writes to ``<root>/bin/<tool>`` (first on the PATH of its SSH sessions
and SSM commands, ``LocalHost.env``). The state lives in JSON files in the host's state dir, one per tool
(``fail2ban.json``, ...); a missing file is a healthy host's state. LocalHost's setters write the files, the
programs read them (and ``fail2ban-client set <jail> unbanip`` writes too), always under the file's own lock.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

#: the program every wrapper runs
PROGRAM = Path(__file__).resolve().with_name("__main__.py")


def python_exec(program: Path) -> str:
    """The shell command that runs a standard-library-only ``program`` (these stand-ins, the docker shim): ``-I``
    (no PYTHONPATH, no user site, no script directory on sys.path) and ``-S`` (no site: the venv's .pth files and
    the editable install's import finder were ~20 of a shim call's ~100 ms, and a host's update makes hundreds)."""
    return f"exec {shlex.quote(sys.executable)} -I -S {shlex.quote(str(program))}"


def write_wrapper(bin_dir: Path, tool: str, state_dir: Path) -> Path:
    """``<bin_dir>/<tool>``: runs the stand-in ``tool`` over ``state_dir``."""
    path = bin_dir / tool
    path.write_text(
        "#!/usr/bin/env bash\n"
        f"# {tool} stand-in of the opsctl local host (tests and local plane only)\n"
        f"{python_exec(PROGRAM)} {shlex.quote(tool)} "
        f'--state {shlex.quote(str(state_dir))} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path
