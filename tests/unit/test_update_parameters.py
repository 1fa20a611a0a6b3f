"""The application-update parameters: what the pattern table lets through to the update host scripts, and the
scripts' own second check for a value that bypassed the table."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest
import re2

from freshtrack_ops import host_scripts
from freshtrack_ops.adapters.local import LocalRunner
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.host_scripts.parameters import (
    BRANCH_MAX_CHARS,
    BRANCH_NAME_PATTERN,
    PARAMETERS,
    TARGET_SPEC_PATTERN,
    VERSION_TAG_PATTERN,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _reference_branch_ok(name: str) -> bool:
    """The branch-name rules in plain Python (what BRANCH_NAME_PATTERN must say without lookaround)."""
    if not 0 < len(name) <= BRANCH_MAX_CHARS or not re.fullmatch(r"[A-Za-z0-9._/-]+", name):
        return False
    if name[0] in "-./" or name.endswith(("/", ".", ".lock")):
        return False
    return not any(bad in name for bad in ("..", "//", "/.", "./", "/-"))


def test_the_branch_pattern_is_the_reference_rule_on_every_short_name() -> None:
    """Every name of up to 6 characters over the characters that matter (the letters of "lock", ".", "/",
    "-" and one other letter): Python's re, RE2 and the reference agree."""
    python, agent = re.compile(BRANCH_NAME_PATTERN), re2.compile(BRANCH_NAME_PATTERN)
    checked = 0
    for length in range(1, 7):
        for letters in itertools.product("lock./-a", repeat=length):
            name = "".join(letters)
            expected = _reference_branch_ok(name)
            assert (python.fullmatch(name) is not None) == expected, name
            assert (agent.search(name) is not None) == expected, name
            checked += 1
    assert checked == sum(8**n for n in range(1, 7))


@pytest.mark.parametrize(
    "name",
    ["main", "release/1.2", "feature/cold-chain", "hotfix/v1.2.1", "a.lockx", "locks/lock", "x.lock-1", "_tmp", "k"],
)
def test_branch_names_that_are_accepted(name: str) -> None:
    assert re.fullmatch(BRANCH_NAME_PATTERN, name)
    assert re.fullmatch(TARGET_SPEC_PATTERN, f"branch:{name}")
    host_scripts.shell_command("app_checkout.sh", {"GIT_COMMIT": COMMIT, "BRANCH": name})


@pytest.mark.parametrize(
    "name",
    [
        "--upload-pack=touch /tmp/x",
        "-b",
        ".hidden",
        "/abs",
        "a..b",
        "a//b",
        "a/.b",
        "a./b",
        "a/-b",
        "trailing/",
        "trailing.",
        "feature.lock",
        "x.lock/y.lock",
        "main^{commit}",
        "main~1",
        "HEAD@{1}",
        "a b",
        "a\nb",
        "ünïcode",
        "x" * (BRANCH_MAX_CHARS + 1),
    ],
)
def test_branch_names_that_are_refused(name: str) -> None:
    assert not re.fullmatch(BRANCH_NAME_PATTERN, name) or len(name) > BRANCH_MAX_CHARS
    with pytest.raises(InvalidInput, match="TARGET_SPEC"):
        host_scripts.shell_command("update_preflight.sh", {"TARGET_SPEC": f"branch:{name}"})
    with pytest.raises(InvalidInput, match="BRANCH"):
        host_scripts.shell_command("app_checkout.sh", {"GIT_COMMIT": COMMIT, "BRANCH": name})


@pytest.mark.parametrize("spec", ["latest", "v1.2.0", "v0.0.1", "v10.20.30", "branch:main", "branch:release/2026.1"])
def test_target_specs_that_are_accepted(spec: str) -> None:
    host_scripts.shell_command("update_preflight.sh", {"APP_DIR": "/opt/freshtrack-pro", "TARGET_SPEC": spec})


@pytest.mark.parametrize(
    "spec",
    [
        "v1.2.3; rm -rf /",
        "v1.2.3 ",
        "v1.2.3\n",
        "v9.0.0-rc1",  # pre-releases are never a target
        "v1.2.3+build.5",
        "v01.2.3",
        "v1.2",
        "1.2.3",
        "V1.2.3",
        "Latest",
        "latest ",
        "branch:",
        "branch:--upload-pack=touch /tmp/x",
        "branch:$(id)",
        "tag:v1.2.3",
        "--tags",
        "v1234567890.0.0",
        "",
    ],
)
def test_target_specs_that_are_refused_before_anything_runs(spec: str) -> None:
    with pytest.raises(InvalidInput, match="TARGET_SPEC"):
        host_scripts.shell_command("update_preflight.sh", {"APP_DIR": "/opt/freshtrack-pro", "TARGET_SPEC": spec})
    assert not re.fullmatch(VERSION_TAG_PATTERN, spec)


@pytest.mark.parametrize(
    ("script", "name", "value"),
    [
        ("app_checkout.sh", "GIT_COMMIT", COMMIT[:39]),
        ("app_checkout.sh", "GIT_COMMIT", COMMIT + "0"),
        ("app_checkout.sh", "GIT_COMMIT", COMMIT.upper()),
        ("app_checkout.sh", "GIT_COMMIT", "HEAD"),
        ("app_checkout.sh", "GIT_COMMIT", "--detach"),
        ("app_deploy.sh", "RESET", "2"),
        ("app_deploy.sh", "RESET", "1; reboot"),
        ("app_verify.sh", "DOMAIN", "example.com; id"),
        ("app_verify.sh", "DOMAIN", "-o/tmp/x"),
        ("app_verify.sh", "DOMAIN", "Example.COM"),
        ("schema_fingerprint.sh", "MIGRATIONS_TABLE", "schema_migrations; DROP TABLE users"),
        ("schema_fingerprint.sh", "MIGRATIONS_TABLE", 'x"y'),
    ],
)
def test_other_update_values_outside_their_pattern_are_refused(script: str, name: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=name):
        host_scripts.shell_command(script, {name: value})


def test_the_local_transport_refuses_before_it_starts_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    runner = LocalRunner("unit")
    for script, env in (
        ("update_preflight.sh", {"APP_DIR": "/tmp", "TARGET_SPEC": "branch:--upload-pack=touch /tmp/x"}),
        ("update_preflight.sh", {"APP_DIR": "/tmp", "TARGET_SPEC": "v1.2.3; rm -rf /"}),
        ("app_checkout.sh", {"APP_DIR": "/tmp", "GIT_COMMIT": COMMIT[:39]}),
    ):
        with pytest.raises(InvalidInput):
            runner.run(script, env, timeout_s=5)


def test_defaults_and_lengths() -> None:
    assert PARAMETERS["BRANCH"].default == "" and PARAMETERS["BRANCH"].max_chars == BRANCH_MAX_CHARS
    assert PARAMETERS["RESET"].default == "0"
    assert PARAMETERS["MIGRATIONS_TABLE"].default == "schema_migrations"
    assert PARAMETERS["TARGET_SPEC"].max_chars == len("branch:") + BRANCH_MAX_CHARS
    longest = "branch:" + "a" * BRANCH_MAX_CHARS
    host_scripts.shell_command("update_preflight.sh", {"TARGET_SPEC": longest})
    with pytest.raises(InvalidInput, match="longer than"):
        host_scripts.shell_command("update_preflight.sh", {"TARGET_SPEC": longest + "a"})


# -- the scripts' own check, for a value that never went through the table ----------------------------------
def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a host script with ``env`` as it is, bypassing the pattern table (a defence-in-depth check)."""
    return subprocess.run(
        ["bash", "-c", host_scripts.load(script), script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("script", "env"),
    [
        ("update_preflight.sh", {"TARGET_SPEC": "branch:--upload-pack=touch {marker}"}),
        ("update_preflight.sh", {"TARGET_SPEC": "branch:a..b"}),
        ("update_preflight.sh", {"TARGET_SPEC": "branch:x.lock"}),
        ("update_preflight.sh", {"TARGET_SPEC": "v1.2.3; touch {marker}"}),
        ("update_preflight.sh", {"TARGET_SPEC": "v9.0.0-rc1"}),
        ("app_checkout.sh", {"GIT_COMMIT": COMMIT[:39]}),
        ("app_checkout.sh", {"GIT_COMMIT": COMMIT, "BRANCH": "--orphan=touch {marker}"}),
        ("app_deploy.sh", {"RESET": "1; touch {marker}"}),
        ("app_verify.sh", {"DOMAIN": "$(touch {marker})"}),
        ("schema_fingerprint.sh", {"DOCKER_BIN": "docker", "PG_SERVICE": "postgres", "DB_NAME": "frostguard",
                                   "DB_ROLE": "frostguard", "MIGRATIONS_TABLE": "x; touch {marker}"}),
    ],
)  # fmt: skip
def test_the_scripts_refuse_a_value_that_bypassed_the_table(script: str, env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    values = {"APP_DIR": str(tmp_path)} | {k: v.replace("{marker}", str(marker)) for k, v in env.items()}
    result = _bash(script, values)
    assert result.returncode == 64, (result.stdout, result.stderr)
    assert "refusing" in result.stderr
    assert result.stdout == ""
    assert not marker.exists()


@pytest.mark.parametrize(
    ("script", "env"),
    [("app_deploy.sh", {"RESET": "1"}), ("app_verify.sh", {"DOMAIN": "demo.freshtrack.example"})],
)
def test_deploy_and_verify_need_the_apps_own_scripts(script: str, env: dict[str, str], tmp_path: Path) -> None:
    """An app directory without scripts/deploy-automated.sh or scripts/verify-deployment.sh: exit 66, nothing run."""
    result = _bash(script, {"APP_DIR": str(tmp_path), **env})
    assert result.returncode == 66 and "no executable ./scripts/" in result.stderr


ARCHIVE_LIST_ENV = {"APP_DIR": "/opt/freshtrack-pro", "DOCKER_BIN": "docker", "PG_SERVICE": "postgres",
                    "ARCHIVE_CODEC": "zstd"}  # fmt: skip


def test_over_ssh_a_credential_travels_on_stdin_never_on_the_command_line() -> None:
    """A presigned URL is a credential (parameters.credential_parameters): ssh_command keeps it off the command line
    (a host's process list shows that to every local user) and sends it as the first stdin record; the other values
    stay quoted words."""
    url = "http://127.0.0.1:9000/bucket/backups/x.dump?X-Amz-Signature=abc123&X-Amz-Credential=AKIA"
    env = {"OBJECT_URL": url, "JOB_ID": "0123456789abcdef"}
    command, records = host_scripts.ssh_command("ssm_archive_list.sh", env | ARCHIVE_LIST_ENV)
    assert url not in command and "X-Amz-Signature" not in command
    assert "FTOPS_STDIN_CREDENTIALS=OBJECT_URL" in command and "JOB_ID=0123456789abcdef" in command
    assert records == f"OBJECT_URL={url}".encode() + b"\0\0"
    plain, nothing = host_scripts.ssh_command("update_preflight.sh", {"APP_DIR": "/opt/freshtrack-pro"})
    assert nothing == b""
    assert plain == host_scripts.shell_command("update_preflight.sh", {"APP_DIR": "/opt/freshtrack-pro"})
