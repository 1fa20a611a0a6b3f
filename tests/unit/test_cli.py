"""opsctl: inputs are validated locally before anything is started, and ``opsctl schema`` prints the models' schemas
(docs/schemas/ is generated from the same models: tests/unit/test_generated_docs.py)."""

from __future__ import annotations

import json

import pytest

from opsctl.cli import main
from opsctl.inputs import INPUT_MODELS


@pytest.mark.parametrize("workflow", sorted(INPUT_MODELS))
def test_the_printed_schema_is_the_input_model(workflow: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", workflow]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == INPUT_MODELS[workflow].model_json_schema()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["update", "--host", "prod", "--version", "v1.2.3; rm -rf /"], "version"),
        (["update", "--host", "prod", "--version", "branch:--upload-pack=touch x"], "version"),
        (["update", "--host", "prod", "--version", "latest", "--rollback-database", "sometimes"], "rollback_database"),
        (["backup", "--host", "prod", "--version", "v1.2.3"], "No such option: --version"),  # an update flag
        (["backup"], "Missing option '--host'"),
        (["update-fleet", "--targets", "all", "--version", "v1.2.3", "--max-concurrency", "0"], "max_concurrency"),
        (["update-fleet", "--targets", "a,b", "--version", "v1.2.3", "--host", "a"], "No such option: --host"),
        (["update-fleet", "--targets", "a,--b", "--version", "v1.2.3"], "targets.1"),
        (["service", "--host", "prod", "--action", "rm -rf /"], "action"),
        (["service", "--host", "prod", "--action", "logs", "--tail", "0"], "tail"),
        (["service", "--host", "prod", "--action", "logs", "--since", "yesterday"], "since"),
        (["service", "--host", "prod", "--action", "unban", "--ip", "1.2.3.4; reboot"], "ip"),
        (["service", "--host", "prod", "--action", "restart", "--service", "Backend"], "service"),
    ],
)
def test_a_bad_start_is_refused_locally_naming_the_field(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # no AWS call is made (tests/unit runs without sockets): the input fails first, in one line
    code = main(["start", *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("opsctl: error: ") and err.count("\n") == 1
    assert (f"{field}:" if " " not in field else field) in err


def test_halt_fleet_refuses_an_empty_reason_locally(capsys: pytest.CaptureFixture[str]) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:ftops-update-fleet:monthly"
    assert main(["halt-fleet", arn, "--reason", ""]) == 2
    assert "reason:" in capsys.readouterr().err
