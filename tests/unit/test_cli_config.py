"""opsctl config init|validate|schema and the CLI's refusals: one line, exit 2, nothing written or started."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from freshtrack_ops.config import DeploymentConfig, load_deployment_config
from opsctl.cli import app

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/ssh-key-AbCdEf"


def _invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_init_asks_and_writes_a_commented_file_that_validates(tmp_path: Path) -> None:
    path = tmp_path / "deployment.yaml"
    # name, id, transport, address, user, secret ARN, host key, e-mail, domain: the defaults taken where offered
    answers = "\n".join(
        ["", "", "ssh", "freshtrack.example.com", "", SECRET, HOST_KEY, "ops@example.com", "app.example.com"]
    )
    code, out, err = _invoke("config", "init", str(path), stdin=answers + "\n")
    assert code == 0, (out, err)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# FreshTrack Ops deployment file") and "# the server's host key" in text
    config = load_deployment_config(path)
    assert config.name == "FreshTrackOps" and [t.id for t in config.targets] == ["prod"]
    assert config.targets[0].transport == "ssh" and config.targets[0].domain == "app.example.com"
    code, out, _ = _invoke("config", "validate", str(path))
    assert code == 0 and "valid (1 target: prod)" in out


def test_init_from_options_for_an_ssm_target_and_it_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    options = ["--name", "Ops2", "--target-id", "staging", "--transport", "ssm", "--instance-id", "i-0123456789abcdef0"]
    options += ["--domain", "staging.example.com", "--email", "ops@example.com"]
    code, out, err = _invoke("--json", "config", "init", str(path), *options)
    assert code == 0, err
    assert json.loads(out)["config"]["targets"][0]["instance_id"] == "i-0123456789abcdef0"
    assert load_deployment_config(path).targets[0].transport == "ssm"
    before = path.read_text(encoding="utf-8")
    code, _, err = _invoke("config", "init", str(path), *options)
    assert (
        code == 2 and err == f"opsctl: error: {path}: exists already (choose another path, or --force to overwrite)\n"
    )
    assert path.read_text(encoding="utf-8") == before


def test_init_writes_nothing_when_an_answer_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    options = ["--target-id", "prod", "--transport", "ssm", "--instance-id", "i-nope", "--name", "Ops"]
    code, _, err = _invoke(
        "config", "init", str(path), *options, "--domain", "a.example.com", "--email", "o@example.com"
    )
    assert code == 2 and not path.exists()
    assert err.startswith("opsctl: error: nothing written: targets.0.instance_id: ") and "(got 'i-nope')" in err
    assert err.count("\n") == 1


def test_validate_names_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x y\nretension_days: 30\ntargets: []\n", encoding="utf-8")
    code, out, err = _invoke("config", "validate", str(path))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert any(line.startswith(f"{path}: name: ") and "(got 'x y')" in line for line in lines), lines
    assert any("retension_days: Extra inputs are not permitted" in line for line in lines), lines
    code, out, _ = _invoke("config", "validate", str(path), "--json")
    document = json.loads(out)
    assert code == 2 and document["valid"] is False and len(document["problems"]) == len(lines)
    code, _, err = _invoke("config", "validate", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read deployment config" in err and err.count("\n") == 1


def test_schemas_print_and_unknown_things_are_refused_in_one_line() -> None:
    code, out, _ = _invoke("config", "schema")
    assert code == 0 and json.loads(out) == DeploymentConfig.model_json_schema()
    code, out, err = _invoke("schema", "backup")
    assert code == 0 and json.loads(out)["title"] == "BackupRequest"
    for args in (["schema", "nope"], ["nope"], ["start", "nope"], ["executions", "--limit", "0"]):
        code, _, err = _invoke(*args)
        assert code == 2 and err.startswith("opsctl: error: ") and err.count("\n") == 1, (args, err)


def test_help_lists_every_workflow_and_the_exit_codes() -> None:
    code, out, _ = _invoke("start", "--help")
    assert code == 0 and all(workflow in out for workflow in ("backup", "restore", "disaster-recovery", "drop-asides"))
    code, out, _ = _invoke("--help")
    assert code == 0 and "Exit codes:" in out


def test_shell_completion_completes_workflows_and_their_options() -> None:
    def complete(words: str) -> list[str]:
        env = {"_OPSCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        result = CliRunner().invoke(app, [], env=env, prog_name="opsctl")
        assert result.exit_code == 0, result.output
        return result.stdout.split()

    assert complete("opsctl start ba") == ["backup"]
    assert complete("opsctl start restore --ba") == ["--backup-id"]
    assert "executions" in complete("opsctl ex")
