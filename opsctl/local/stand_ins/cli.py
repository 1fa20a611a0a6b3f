"""``<tool> --state STATE_DIR <args>``: the stand-in named ``tool`` over the state dir."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from opsctl.local.stand_ins import apt_check, apt_get, df, fail2ban, power, ufw

Tool = Callable[[Path, list[str], TextIO, TextIO], int]
TOOLS: dict[str, Tool] = {
    "fail2ban-client": fail2ban.main,
    "ufw": ufw.main,
    "apt-check": apt_check.main,
    "df": df.main,
    "apt-get": apt_get.main,
}
TOOLS.update({tool: functools.partial(power.main, tool) for tool in power.TOOLS})


def main(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = list(argv)
    if len(args) < 3 or args[0] not in TOOLS or args[1] != "--state":
        err.write(f"usage: stand_ins {{{','.join(sorted(TOOLS))}}} --state STATE_DIR <args>\n")
        return 2
    return TOOLS[args[0]](Path(args[2]), args[3:], out, err)
