from __future__ import annotations

import shlex
import subprocess

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.errors import InvalidInput


def test_values_are_quoted_and_never_executed() -> None:
    command = host_scripts.shell_command("preflight.sh", {"DB_NAME": "x'; touch /tmp/pwned; echo '", "APP_DIR": "/a b"})
    words = shlex.split(command)
    assert words[0] == "env"
    assert "DB_NAME=x'; touch /tmp/pwned; echo '" in words
    assert "APP_DIR=/a b" in words
    assert words[-4:-2] == ["bash", "-c"]
    assert words[-1] == "preflight.sh"


def test_quoted_environment_reaches_the_script_verbatim() -> None:
    hostile = "$(echo injected) `id` ; rm -rf / ' \""
    env = {"DB_NAME": hostile}
    command = host_scripts.shell_command("preflight.sh", env).replace(
        f"bash -c {shlex.quote(host_scripts.load('preflight.sh'))}", "bash -c 'printf %s \"$DB_NAME\"'"
    )
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    assert out == hostile


@pytest.mark.parametrize("name", ["lower", "1ABC", "A-B", "X" * 70])
def test_bad_variable_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="env"):
        host_scripts.shell_command("preflight.sh", {name: "v"})


def test_unknown_or_traversing_script_names_are_refused() -> None:
    with pytest.raises(InvalidInput, match="script"):
        host_scripts.load("../../etc/passwd")
