"""The docker command line: ``--state STATE_DIR`` then docker's own arguments, dispatched to compose or the
engine commands; every call is recorded in ``commands.log`` first, and a ShimError is docker's error exit."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from opsctl.local.docker_shim.compose import Compose
from opsctl.local.docker_shim.engine import Engine
from opsctl.local.docker_shim.state import ShimError, ShimState


def run(state: ShimState, args: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``docker <args>``; raises ShimError."""
    if not args:
        raise ShimError("Usage:  docker [OPTIONS] COMMAND")
    cmd, rest = args[0], args[1:]
    if cmd == "compose":
        return Compose(state, out, err).main(rest)
    engine = Engine(state, out, err)
    if cmd == "system" and rest:
        if rest[0] == "df":
            return engine.system_df(rest[1:])
        if rest[0] == "prune":
            return engine.system_prune(rest[1:])
    if cmd == "image" and rest[:1] == ["inspect"]:
        return engine.image_inspect(rest[1:])
    if cmd == "stats":
        return engine.stats(rest)
    if cmd == "version":
        out.write("Docker version 27.0.0-opsctl-shim\n")
        return 0
    raise ShimError(f"docker shim: unsupported command: docker {' '.join(args)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--state":
        sys.stderr.write("usage: docker_shim --state STATE_DIR <docker args>\n")
        return 2
    state = ShimState(Path(args[1]))
    docker_args = args[2:]
    state.record_command(["docker", *docker_args])
    try:
        return run(state, docker_args)
    except ShimError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code
