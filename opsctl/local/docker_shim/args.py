"""Parsing docker's command line the way docker does, for the subset the shim implements."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from opsctl.local.docker_shim.state import ShimError, now

#: ``docker compose`` options before the subcommand that take a value
COMPOSE_GLOBAL_WITH_VALUE = frozenset(
    {"-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile", "--ansi",
     "--progress", "--parallel"}
)  # fmt: skip


def split_opts(args: Sequence[str], with_value: frozenset[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split ``args`` into options (``--x=v``, ``--x v`` for options in with_value, flags) and positionals."""
    opts: dict[str, list[str]] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1 and not positional:
            name, eq, value = arg.partition("=")
            if eq:
                opts.setdefault(name, []).append(value)
            elif name in with_value and i + 1 < len(args):
                opts.setdefault(name, []).append(args[i + 1])
                i += 1
            elif name.startswith("-") and not name.startswith("--") and len(name) > 2:
                for ch in name[1:]:  # combined short flags: -it, -af
                    opts.setdefault(f"-{ch}", []).append("")
            else:
                opts.setdefault(name, []).append("")
        else:
            positional.append(arg)
        i += 1
    return opts, positional


def compose_subcommand(args: Sequence[str]) -> tuple[str, list[str]]:
    """``docker compose [global options] SUB [args]`` -> (SUB, args)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name = args[i].partition("=")[0]
        i += 2 if name in COMPOSE_GLOBAL_WITH_VALUE and "=" not in args[i] else 1
    if i >= len(args):
        raise ShimError("Usage:  docker compose [OPTIONS] COMMAND")
    return args[i], list(args[i + 1 :])


def compose_global_files(args: Sequence[str]) -> list[str]:
    """The ``-f``/``--file`` values of ``docker compose [global options] SUB ...`` (before SUB), in order."""
    files: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in {"-f", "--file"}:
            if eq:
                files.append(value)
            elif i + 1 < len(args):
                files.append(args[i + 1])
        i += 2 if name in COMPOSE_GLOBAL_WITH_VALUE and not eq else 1
    return files


def parse_since(value: str) -> float:
    """``--since``: a duration (``1h30m``, ``10s``), a Unix timestamp or an RFC 3339 time -> epoch seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if m and value:
        hours, minutes, secs = (int(g) if g else 0 for g in m.groups())
        return now() - (hours * 3600 + minutes * 60 + secs)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ShimError(f'invalid value "{value}" for flag --since') from exc
