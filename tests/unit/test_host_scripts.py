from __future__ import annotations

import shlex
import subprocess

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.host_scripts.parameters import LOCAL_HOST_SEAMS, PARAMETERS, SCRIPT_PARAMETERS


def test_values_are_quoted_and_never_executed() -> None:
    hostile = {"DB_NAME": "x'; touch /tmp/pwned; echo '", "APP_DIR": "/a b"}
    command = host_scripts.quoted_command("preflight.sh", hostile)
    words = shlex.split(command)
    assert words[0] == "env"
    assert "DB_NAME=x'; touch /tmp/pwned; echo '" in words
    assert "APP_DIR=/a b" in words
    assert words[-4:-2] == ["bash", "-c"]
    assert words[-1] == "preflight.sh"


def test_quoted_environment_reaches_the_script_verbatim() -> None:
    hostile = "$(echo injected) `id` ; rm -rf / ' \""
    env = {"DB_NAME": hostile}
    command = host_scripts.quoted_command("preflight.sh", env).replace(
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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_NAME", "frostguard; rm -rf /"),
        ("APP_DIR", "/opt/x$(id)"),
        ("TARGET_DB", "Frostguard"),
        ("SERVICES", "backend;reboot"),
        ("DOCKER_BIN", "docker compose"),
    ],
)
def test_values_outside_the_declared_patterns_are_refused(name: str, value: str) -> None:
    script = next(s for s, params in SCRIPT_PARAMETERS.items() if name in params)
    with pytest.raises(InvalidInput, match=name):
        host_scripts.shell_command(script, {name: value})


def test_every_script_has_a_parameter_table_matching_what_it_reads() -> None:
    import re
    from importlib import resources

    scripts = sorted(p.name for p in resources.files(host_scripts).iterdir() if p.name.endswith(".sh"))
    assert scripts == sorted(SCRIPT_PARAMETERS)
    for script in scripts:
        text = host_scripts.load(script)
        read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::[?-])", text)) - LOCAL_HOST_SEAMS
        assert read == set(SCRIPT_PARAMETERS[script]), script
        assert all(name in PARAMETERS for name in read)


def test_the_local_host_seams_are_no_parameter() -> None:
    """A seam (a stand-in's path, set only by the local host's sessions) can never come from the control plane."""
    assert not LOCAL_HOST_SEAMS & set(PARAMETERS)
    assert all(name.startswith("FTOPS_") for name in LOCAL_HOST_SEAMS)
