"""HostScriptDocuments: one CfnDocument per host script, cfn-lint clean, content identical to the generator's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import SSH_ONLY_SCRIPTS, document_content, document_name, document_scripts
from stacks.ssm_documents import HostScriptDocuments

from .conftest import assert_lint_clean

pytestmark = pytest.mark.infra

PREFIX = "Test-"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("ssm-docs.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "SsmDocuments", env=cdk.Environment(account="123456789012", region="us-east-1"))
    documents = HostScriptDocuments(stack, "HostScripts", prefix=PREFIX)
    cdk.CfnOutput(stack, "DocumentArns", value=cdk.Fn.join(",", documents.document_arns()))
    app.synth()
    path = outdir / "SsmDocuments.template.json"
    return path, json.loads(path.read_text())


def _documents(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SSM::Document"
    }


def test_one_command_document_per_script_round_trips(template: tuple[Path, dict[str, Any]]) -> None:
    documents = _documents(template[1])
    assert sorted(documents) == sorted(PREFIX + document_name(s) for s in document_scripts())
    assert set(SCRIPT_PARAMETERS) - set(document_scripts()) == SSH_ONLY_SCRIPTS  # their output holds secrets
    for script in document_scripts():
        properties = documents[PREFIX + document_name(script)]
        assert properties["DocumentType"] == "Command"
        assert properties["DocumentFormat"] == "JSON"
        assert properties["UpdateMethod"] == "NewVersion"
        assert properties["Content"] == document_content(script)
        assert len(json.dumps(properties["Content"]).encode()) < 64 * 1024


def test_cfn_lint_reports_no_errors(template: tuple[Path, dict[str, Any]]) -> None:
    assert_lint_clean([template[0]])  # with the serverless rules, as every synthesized template


def test_document_arns_name_every_document(template: tuple[Path, dict[str, Any]]) -> None:
    output = json.dumps(template[1]["Outputs"]["DocumentArns"])
    for script in document_scripts():
        assert f"document/{PREFIX}{document_name(script)}" in output
