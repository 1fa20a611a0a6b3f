"""The SSM Command documents generated from the host scripts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pydantic
import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.adapters.host_exchange import exchange_body
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.host_scripts import ssm_document
from freshtrack_ops.host_scripts.parameters import PARAMETERS, SCRIPT_PARAMETERS, credential_parameters
from freshtrack_ops.host_scripts.ssm_document import (
    EXCHANGE_FILE,
    EXCHANGE_MISSING_EXIT,
    EXCHANGE_PARAMETER,
    declared_parameters,
    document_content,
    document_name,
    document_scripts,
    render_for_local,
    resolve_parameters,
)

SCRIPTS = document_scripts()
INJECTION = "frostguard; rm -rf /"


def _pattern(declared: Mapping[str, str | int]) -> str:
    """A declared parameter's allowedPattern (typed ``str | int`` like its other fields; always a str)."""
    pattern = declared["allowedPattern"]
    assert isinstance(pattern, str), pattern
    return pattern


def _values(script: str) -> dict[str, str]:
    sample = {
        "APP_DIR": "/opt/freshtrack-pro",
        "DOCKER_BIN": "docker",
        "PG_SERVICE": "postgres",
        "DB_NAME": "frostguard",
        "DB_ROLE": "frostguard",
        "TARGET_DB": "frostguard_verify_0a1b2c3d",
        "ACTION": "status",
        "PART_URLS_URL": "https://b.s3.us-east-1.amazonaws.com/ssm-exchange/l?X-Amz-Signature=0a&X-Amz-Expires=9",
        "OBJECT_URL": "https://b.s3.us-east-1.amazonaws.com/backups/x.dump?X-Amz-Signature=0a&X-Amz-Expires=9",
        "PART_SIZE": "8388608",
        "HEALTH_URL": "https://demo.freshtrack.example/api/health",
        "TARGET_SPEC": "latest",
        "GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567",
        "DOMAIN": "demo.freshtrack.example",
        "UPDATE_ID": "demo-20260101T000000Z-0a1b2c3d",
        "GIT_REVISION": "v1.2.0-3-gabc1234",
        "UPLOAD_URL": "https://b.s3.us-east-1.amazonaws.com/dr-transfer/x?X-Amz-Signature=0a&X-Amz-Expires=9",
        "ROTATION": "commit",
    }
    return {name: sample[name] for name in SCRIPT_PARAMETERS[script] if name in sample}


EXCHANGE_URL = "https://b-1.s3.us-east-1.amazonaws.com/ssm-exchange/hosts/i-0123456789abcdef0/" + "0" * 32


def _document_values(script: str) -> dict[str, str]:
    """What the adapter sends: the script's values without its credentials, plus EXCHANGE_URL when it has any."""
    secret = credential_parameters(script)
    values = {name: value for name, value in _values(script).items() if name not in secret}
    return values | ({EXCHANGE_PARAMETER: EXCHANGE_URL} if secret else {})


def _exchange_dir(script: str, tmp_path: Path) -> Path:
    """A downloads directory holding the exchange file the fetch step would leave (the script's credentials)."""
    secret = credential_parameters(script)
    (tmp_path / EXCHANGE_FILE).write_bytes(exchange_body({n: v for n, v in _values(script).items() if n in secret}))
    return tmp_path


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_a_schema_22_document_with_env_var_parameters(script: str) -> None:
    content = document_content(script)
    assert content["schemaVersion"] == "2.2"
    secret = credential_parameters(script)
    plain = [name for name in SCRIPT_PARAMETERS[script] if name not in secret]
    assert list(content["parameters"]) == [*plain, *([EXCHANGE_PARAMETER] if secret else [])]
    assert list(content["parameters"]) == list(declared_parameters(script))
    for name, declared in content["parameters"].items():
        spec = PARAMETERS[name]
        assert not spec.credential, (script, name)  # no document declares a credential parameter
        assert declared["type"] == "String"
        assert declared.get("interpolationType") == (None if name == EXCHANGE_PARAMETER else "ENV_VAR")
        assert declared["allowedPattern"] == spec.pattern
        assert declared["description"] == spec.description
        assert declared.get("default") == spec.default
    *fetch, step = content["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    assert step["inputs"]["timeoutSeconds"] == str(ssm_document.execution_timeout(script))
    text = "\n".join(step["inputs"]["runCommand"])
    assert "{{" not in text
    if secret:
        (fetch_step,) = fetch
        assert fetch_step["action"] == "aws:downloadContent"
        assert fetch_step["inputs"] == {
            "sourceType": "S3",
            "sourceInfo": json.dumps({"path": "{{ EXCHANGE_URL }}"}),
            "destinationPath": EXCHANGE_FILE,
        }
        # the one parameter reference of the document: the exchange object's URL, in the fetch step
        assert json.dumps(content).count("{{") == 1
    else:
        assert fetch == []
        assert "{{" not in json.dumps(content)  # no parameter reference anywhere
    assert len(json.dumps(content).encode()) < 64 * 1024
    assert step["inputs"]["runCommand"][0] == "set -eu"
    for name in plain:
        assert f'export {name}="$SSM_{name}"' in step["inputs"]["runCommand"]
    for name in secret:
        assert f"SSM_{name}" not in text
    assert step["inputs"]["runCommand"][-1] == f'exec bash -c "$script" {script}'


def test_timeouts_and_names() -> None:
    assert ssm_document.execution_timeout("preflight.sh") == 120
    assert ssm_document.execution_timeout("backup_dump.sh") == 3600
    assert ssm_document.execution_timeout("restore_stream.sh") == 3600
    assert ssm_document.execution_timeout("services.sh") == 600
    assert ssm_document.execution_timeout("ssm_backup_upload.sh") == 3600
    assert ssm_document.execution_timeout("ssm_restore_stream.sh") == 3600
    assert document_name("preflight.sh") == "FreshTrackOps-preflight"
    assert document_name("backup_dump.sh") == "FreshTrackOps-backup_dump"
    with pytest.raises(ValueError, match="no parameter table"):
        document_name("nope.sh")
    assert document_content("preflight.sh", timeout_s=1)["mainSteps"][0]["inputs"]["timeoutSeconds"] == "1"
    with pytest.raises(ValueError, match="timeout_s"):
        document_content("preflight.sh", timeout_s=0)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("shell", [["/bin/sh", "-c"], ["bash", "--posix", "-c"]])
def test_the_script_text_reaches_bash_unchanged(script: str, shell: list[str], tmp_path: Path) -> None:
    """The here-doc carries the script byte for byte (no expansion), under dash and bash alike."""
    argv, env = render_for_local(document_content(script), _document_values(script))
    text = argv[-1].replace(f'exec bash -c "$script" {script}', 'printf %s "$script"')
    cwd = _exchange_dir(script, tmp_path)
    out = subprocess.run([*shell, text], env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout
    assert out == host_scripts.load(script).rstrip("\n")


@pytest.mark.parametrize("script", [s for s in SCRIPTS if credential_parameters(s)])
def test_credentials_reach_the_script_from_the_exchange_file_which_is_then_deleted(script: str, tmp_path: Path) -> None:
    argv, env = render_for_local(document_content(script), _document_values(script))
    assert not any("X-Amz" in value for value in env.values())  # no credential in the agent's SSM_* variables
    secret = credential_parameters(script)
    shown = " ".join(f'{name}="${name}"' for name in secret)
    text = argv[-1].replace(f'exec bash -c "$script" {script}', f"exec bash -c 'echo {shown}'")
    cwd = _exchange_dir(script, tmp_path)
    out = subprocess.run(["/bin/sh", "-c", text], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    expected = " ".join(f"{name}={_values(script).get(name, PARAMETERS[name].default)}" for name in secret)
    assert out.stdout.strip() == expected
    assert not (cwd / EXCHANGE_FILE).exists()  # read once, then gone from the host's disk


@pytest.mark.parametrize("script", [s for s in SCRIPTS if credential_parameters(s)])
def test_a_missing_or_odd_exchange_file_stops_the_step_before_the_script(script: str, tmp_path: Path) -> None:
    argv, env = render_for_local(document_content(script), _document_values(script))
    marker = tmp_path / "ran"
    text = argv[-1].replace(f'exec bash -c "$script" {script}', f"touch {marker}")
    missing = subprocess.run(
        ["/bin/sh", "-c", text], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert missing.returncode == EXCHANGE_MISSING_EXIT
    assert "was not delivered" in missing.stderr
    (tmp_path / EXCHANGE_FILE).write_text("SOMETHING_ELSE https://example.invalid/\n")
    odd = subprocess.run(["/bin/sh", "-c", text], env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert odd.returncode == EXCHANGE_MISSING_EXIT
    assert not (tmp_path / EXCHANGE_FILE).exists()
    assert not marker.exists()


def test_parameters_reach_the_script_only_through_the_environment() -> None:
    hostile = "$(touch /tmp/ssm-pwned) `id`; rm -rf / ' \""
    content = document_content("preflight.sh")
    content["parameters"]["DB_NAME"]["allowedPattern"] = ".*"  # only to prove the quoting, not the pattern
    argv, env = render_for_local(content, _values("preflight.sh") | {"DB_NAME": hostile})
    assert hostile not in argv[-1]
    assert env["SSM_DB_NAME"] == hostile
    text = argv[-1].replace('exec bash -c "$script" preflight.sh', "exec bash -c 'printf %s \"$DB_NAME\"'")
    out = subprocess.run([argv[0], "-c", text], env=env, capture_output=True, text=True, check=True).stdout
    assert out == hostile
    assert not Path("/tmp/ssm-pwned").exists()


def test_a_missing_ssm_variable_stops_before_the_script_runs() -> None:
    """An agent without ENV_VAR support sets no SSM_* variable: set -u stops the step (fails closed)."""
    argv, env = render_for_local(document_content("preflight.sh"), _values("preflight.sh"))
    del env["SSM_DB_ROLE"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "SSM_DB_ROLE" in result.stderr


def test_injection_in_db_name_fails_the_allowed_pattern_and_pydantic() -> None:
    pattern = _pattern(document_content("preflight.sh")["parameters"]["DB_NAME"])
    assert re.fullmatch(pattern, "frostguard")
    assert re.fullmatch(pattern, INJECTION) is None
    with pytest.raises(ValueError, match="DB_NAME"):
        resolve_parameters(document_content("preflight.sh"), _values("preflight.sh") | {"DB_NAME": INJECTION})
    with pytest.raises(pydantic.ValidationError, match="database"):
        SsmTarget(
            id="demo-ssm", transport="ssm", instance_id="mi-0123456789abcdef0", domain="x.test", database=INJECTION
        )


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_pattern_rejects_shell_metacharacters(script: str) -> None:
    for name, declared in document_content(script)["parameters"].items():
        for bad in (";", "$(id)", "`id`", "a\nb", "'", '"', "|", "&"):
            assert re.fullmatch(_pattern(declared), f"x{bad}") is None, (name, bad)


def test_resolve_parameters_defaults_unknown_and_missing() -> None:
    content = document_content("backup_dump.sh")
    resolved = resolve_parameters(content, _values("backup_dump.sh"))
    assert resolved["PG_DUMP_COMPRESS"] == ""
    with pytest.raises(ValueError, match="not declared"):
        resolve_parameters(content, _values("backup_dump.sh") | {"TARGET_DB": "x"})
    with pytest.raises(ValueError, match="DB_ROLE is required"):
        resolve_parameters(content, {k: v for k, v in _values("backup_dump.sh").items() if k != "DB_ROLE"})


@pytest.mark.skipif(
    shutil.which("shellcheck") is None and not Path(sys.executable).with_name("shellcheck").exists(),
    reason="no shellcheck",
)
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_generated_wrapper_is_shellcheck_clean(script: str, tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    wrapper = tmp_path / "wrapper.sh"
    wrapper.write_text("\n".join(document_content(script)["mainSteps"][-1]["inputs"]["runCommand"]) + "\n")
    result = subprocess.run([shellcheck, "--shell=sh", str(wrapper)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
