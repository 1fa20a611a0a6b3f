"""Host scripts: real shell files, shellcheck-clean, parameterised only through environment variables.

Both transports run the same file: SSH sends ``NAME='value' ... bash -c '<script>'`` with every value
shell-quoted, and a credential (a presigned URL) first on stdin, never on the command line (``ssh_command``); SSM
documents pass parameters with ``interpolationType: ENV_VAR``, credentials in the host exchange object.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from functools import cache
from importlib import resources

from freshtrack_ops.errors import InvalidInput

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9_]*\.sh$")


_INCLUDE = re.compile(r"^# @include (lib/[a-z][a-z0-9_]*\.sh)$", re.MULTILINE)


@cache
def load(name: str) -> str:
    """The text of host_scripts/<name>, with each ``# @include lib/<file>.sh`` line replaced by that file.

    Scripts must stay self-contained (each becomes one SSH payload and one SSM document), so shared
    shell functions are inlined here rather than sourced on the host.
    """
    if not _SCRIPT_NAME.match(name):
        raise InvalidInput(f"script: bad host script name {name!r}")
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _library(m.group(1)), text)


def _library(path: str) -> str:
    """A library's text, its own includes inlined too (a library may build on another: git_tree.sh on
    compose_override.sh)."""
    body = resources.files(__name__).joinpath(path).read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _library(m.group(1)), body.removeprefix("#!/usr/bin/env bash\n").rstrip("\n"))


def check_parameters(name: str, env: Mapping[str, str]) -> None:
    """The values must match the patterns the SSM documents declare (same table for both transports)."""
    from freshtrack_ops.host_scripts.parameters import check_values

    try:
        check_values(name, dict(env))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def check_env(env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not _ENV_NAME.match(key):
            raise InvalidInput(f"env: bad variable name {key!r}")
        if "\x00" in value:
            raise InvalidInput(f"env: {key} contains a NUL byte")


def script_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The parameters ``name`` declares, checked against their patterns (InvalidInput names the culprit)."""
    from freshtrack_ops.host_scripts.parameters import for_script

    check_env(env)
    try:
        selected = for_script(name, dict(env))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    check_parameters(name, selected)
    return selected


def shell_command(name: str, env: Mapping[str, str]) -> str:
    """A command line that runs host script ``name`` with ``env``; every value is checked and quoted."""
    return quoted_command(name, script_env(name, env))


#: the variable naming the credentials a script takes from stdin (lib/stdin_credentials.sh)
STDIN_CREDENTIALS = "FTOPS_STDIN_CREDENTIALS"


def ssh_command(name: str, env: Mapping[str, str]) -> tuple[str, bytes]:
    """The SSH command line for host script ``name`` and what goes first on its stdin: its credential parameters
    (presigned URLs, ``parameters.credential_parameters``) travel as NUL-terminated ``NAME=value`` records read by
    lib/stdin_credentials.sh, never on the command line (the host's process list shows it to every local user);
    every other value is a quoted word of the command line, as ``shell_command``."""
    from freshtrack_ops.host_scripts.parameters import credential_parameters

    selected = script_env(name, env)
    secret = set(credential_parameters(name))
    credentials = {key: value for key, value in selected.items() if key in secret}
    if not credentials:
        return quoted_command(name, selected), b""
    words = {key: value for key, value in selected.items() if key not in secret}
    words[STDIN_CREDENTIALS] = " ".join(sorted(credentials))
    records = b"".join(f"{key}={value}".encode() + b"\0" for key, value in sorted(credentials.items())) + b"\0"
    script = _library("lib/stdin_credentials.sh") + "\n" + load(name)
    return _command_line(name, script, words), records


def quoted_command(name: str, env: Mapping[str, str]) -> str:
    """The command line itself: ``env NAME='value' ... bash -c '<script>' <name>``, every word quoted.

    Defence in depth: even a value that slipped past the patterns cannot leave its quotes."""
    return _command_line(name, load(name), env)


def _command_line(name: str, script: str, env: Mapping[str, str]) -> str:
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in sorted(env.items()))
    prefix = f"env {assignments} " if assignments else ""
    return f"{prefix}bash -c {shlex.quote(script)} {shlex.quote(name)}"
