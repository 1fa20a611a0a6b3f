"""app.py as the CDK CLI runs it: config selection and clear errors for bad configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import app

from .conftest import EXAMPLE_CONFIG, REPO

pytestmark = pytest.mark.infra


def _example() -> dict[str, object]:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run_app(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("FRESHTRACK_CONFIG", "CDK_CONTEXT_JSON")}
    full_env = {
        **inherited,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _bad_retention(data: dict[str, object]) -> None:
    data["retention_days"] = -1


def _ssh_without_host_key(data: dict[str, object]) -> None:
    targets = data["targets"]
    assert isinstance(targets, list)
    del targets[0]["host_public_key"]


def _unknown_field(data: dict[str, object]) -> None:
    data["retension_days"] = 30


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_bad_retention, ["retention_days", "-1"]),
        (_ssh_without_host_key, ["targets.0", "host_public_key"]),
        (_unknown_field, ["retension_days", "30"]),
    ],
    ids=["retention-negative", "ssh-missing-host-key", "unknown-field"],
)
def test_bad_config_exits_2_naming_field_and_value(tmp_path: Path, mutate: object, expected: list[str]) -> None:
    data = _example()
    mutate(data)  # type: ignore[operator]
    path = _write(tmp_path, data)
    result = _run_app(tmp_path, {"FRESHTRACK_CONFIG": str(path)})
    assert result.returncode == 2, result.stderr
    for word in expected:
        assert word in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out").exists()


def test_context_config_is_honoured(tmp_path: Path) -> None:
    data = _example()
    _bad_retention(data)
    path = _write(tmp_path, data)
    result = _run_app(tmp_path, {"CDK_CONTEXT_JSON": json.dumps({"config": str(path)})})
    assert result.returncode == 2
    assert "retention_days" in result.stderr


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FRESHTRACK_CONFIG", raising=False)
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    monkeypatch.chdir(tmp_path)
    assert app.config_path() == tmp_path / app.DEFAULT_CONFIG
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"config": "ctx.yaml"}))
    assert app.config_path() == tmp_path / "ctx.yaml"
    monkeypatch.setenv("FRESHTRACK_CONFIG", "/abs/env.yaml")
    assert app.config_path() == Path("/abs/env.yaml")


def test_cdk_json_matches_the_app() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    assert cdk_json["app"] == "python3 app.py"
    assert cdk_json["cli-telemetry"] is False
    assert cdk_json["notices"] is False
    assert cdk_json["context"]["config"] == app.DEFAULT_CONFIG
    for flag, value in app.FEATURE_FLAGS.items():
        assert cdk_json["context"][flag] == value


def test_example_config_has_no_ip_addresses() -> None:
    import re

    text = EXAMPLE_CONFIG.read_text()
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text)
