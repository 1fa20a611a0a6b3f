"""cdk-nag (AwsSolutions) and cfn-lint (with the serverless rules) over the synthesized templates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

import stacks.nag
from app import build_app
from freshtrack_ops.config import DeploymentConfig

from .conftest import SKIP_BUNDLING, Synth, assert_lint_clean, cfn_lint
from .test_infra_dr import dr_variant
from .test_infra_vpc import vpc_variant

pytestmark = pytest.mark.infra

#: where stacks/nag.py's suppress_lint writes (cfn-lint's own per-resource configuration, plus the reasons)
LINT_METADATA = "cfn-lint"


def test_cdk_nag_reports_no_unacknowledged_findings(synth: Synth) -> None:
    report_file = synth.outdir / "validation-report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text())
        for plugin in report.get("pluginReports", []):
            assert plugin.get("conclusion") != "failure", plugin
            assert not plugin.get("violations"), plugin


def _acknowledgements(app: cdk.App) -> dict[str, dict[str, str]]:
    """Rule id -> {construct path: reason}, from the metadata ``Validations.of().acknowledge`` records."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[str, dict[str, str]] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in entry.data.items():
                    found.setdefault(rule.removeprefix("Annotation::"), {})[construct.node.path] = reason
    return found


def test_every_acknowledgement_carries_a_specific_reason(synth: Synth) -> None:
    acknowledged = _acknowledgements(synth.app)
    assert acknowledged, "expected the documented acknowledgements"
    for rule, reasons in acknowledged.items():
        assert rule.startswith("AwsSolutions-"), rule
        for path, reason in reasons.items():
            assert len(reason) >= 40, (rule, path, reason)


def _variant(config: DeploymentConfig, variant: str) -> DeploymentConfig:
    """The example config, or the same placed in a VPC, or with more disaster recovery (an SSM replacement, Object
    Lock: acknowledgements that exist only then)."""
    if variant == "dr":
        return dr_variant(config)
    if variant == "vpc":
        return vpc_variant(config)
    return config


@pytest.mark.parametrize("variant", ["example", "vpc", "dr"])
def test_every_acknowledgement_matches_a_real_finding(
    example_config: DeploymentConfig,
    synth_of: Callable[[DeploymentConfig], Synth],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
) -> None:
    """Without the acknowledgements, synth reports exactly the acknowledged findings: none is stale."""
    config = _variant(example_config, variant)
    # the acknowledged app as the other modules test it (synth_of: the variant's one synth, cdk-nag clean)
    acknowledged = _acknowledgements(synth_of(config).app)

    class _Ignore:
        @staticmethod
        def of(_scope: object) -> _Ignore:
            return _Ignore()

        def acknowledge(self, *_rules: object) -> None:
            return None

    monkeypatch.setattr(stacks.nag, "Validations", _Ignore)
    app = build_app(config, outdir=str(tmp_path / "bare"), context=SKIP_BUNDLING)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "bare" / "validation-report.json").read_text())
    raised: dict[str, set[str]] = {}
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                raised.setdefault(violation["ruleName"], set()).add(construct["constructPath"])
    assert set(raised) == set(acknowledged)
    for rule, paths in raised.items():
        for path in paths:  # each finding sits under a construct that acknowledged it
            assert any(path.startswith(scope + "/") for scope in acknowledged[rule]), (rule, path)


def test_an_unacknowledged_finding_fails_synth(example_config: DeploymentConfig, tmp_path: Path) -> None:
    app = build_app(example_config, outdir=str(tmp_path), context=SKIP_BUNDLING)
    storage = app.node.find_child(f"{example_config.name}Storage")
    assert isinstance(storage, cdk.Stack)
    s3.Bucket(storage, "Careless")  # no SSL enforcement, no access logs: AwsSolutions-S1/S10
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
    paths = {
        c["constructPath"]
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    }
    assert all("/Careless/" in path for path in paths), paths


def test_cfn_lint_with_serverless_rules_reports_nothing(synth: Synth) -> None:
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == 4  # storage, host documents, control plane and its nested monitoring stack
    assert_lint_clean(templates)


def test_the_serverless_rules_are_loaded() -> None:
    """A bare function, queue and rule: the serverless rules must report them (else the lint proves nothing)."""
    result = cfn_lint([Path(__file__).with_name("serverless_rules_probe.json")], "--format", "parseable")
    found = {line.split(":")[5] for line in result.stdout.splitlines() if line.count(":") >= 6}
    assert {"WS1004", "ES6000", "ES4000", "ES1007"} <= found, result.stdout + result.stderr


def _suppressions(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(rule, logical id) -> reason of every per-resource cfn-lint suppression."""
    found: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        lint = resource.get("Metadata", {}).get(LINT_METADATA)
        if lint is None:
            continue
        checks = lint["config"]["ignore_checks"]
        reasons = lint.get("reasons", {})
        assert set(checks) == set(reasons), (logical_id, checks, reasons)
        for rule in checks:
            found[(rule, logical_id)] = reasons[rule]
    return found


def test_every_lint_suppression_carries_a_specific_reason(synth: Synth) -> None:
    suppressed = {
        key: reason for template in synth.templates.values() for key, reason in _suppressions(template).items()
    }
    assert suppressed, "expected the documented suppressions"
    for (rule, logical_id), reason in suppressed.items():
        assert len(reason) >= 40, (rule, logical_id, reason)


def test_suppressions_on_one_resource_add_up_and_need_a_reason() -> None:
    from aws_cdk import aws_sqs as sqs

    from stacks.nag import suppress_lint

    queue = sqs.CfnQueue(cdk.Stack(cdk.App(), "Probe"), "Queue")
    suppress_lint(queue, "ES6000", "a dead-letter queue itself, named in no SQS redrive policy")
    suppress_lint(queue, "W1234", "a second check on the same resource keeps the first one")
    metadata = queue.get_metadata(LINT_METADATA)
    assert metadata["config"]["ignore_checks"] == ["ES6000", "W1234"]
    assert set(metadata["reasons"]) == {"ES6000", "W1234"}
    with pytest.raises(ValueError, match="needs a specific reason"):
        suppress_lint(queue, "ES6000", "because")


def test_every_lint_suppression_matches_a_real_finding(synth: Synth, tmp_path: Path) -> None:
    """Linted without the suppressions, the templates report exactly the suppressed findings: none is stale."""
    suppressed: set[tuple[str, str]] = set()
    stripped = []
    for name, template in synth.templates.items():
        suppressed |= set(_suppressions(template))
        bare = json.loads(json.dumps(template))
        for resource in bare["Resources"].values():
            resource.get("Metadata", {}).pop(LINT_METADATA, None)
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(bare))
        stripped.append(path)
    result = cfn_lint(stripped, "--format", "json")
    findings = json.loads(result.stdout or "[]")
    raised = {(f["Rule"]["Id"], f["Location"]["Path"][1]) for f in findings}
    assert raised == suppressed


def _references(value: Any) -> Iterator[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub ``${Id}`` / ``${Id.Attr}``)."""
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                for part in str(text).split("${")[1:]:
                    yield part.split("}")[0].split(".")[0]
                if isinstance(arg, list):
                    yield from _references(arg[1])
            else:
                yield from _references(arg)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _cycle(template: dict[str, Any]) -> list[str] | None:
    resources: dict[str, Any] = template["Resources"]
    edges: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn", [])
        refs = set(_references(resource.get("Properties", {}))) | set(
            [depends] if isinstance(depends, str) else depends
        )
        edges[logical_id] = {r for r in refs if r in resources}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_templates_have_no_dependency_cycle(synth: Synth) -> None:
    """CDK only warns about a cycle (late grants on the workflows could close one): check it here."""
    for which, template in synth.templates.items():
        assert _cycle(template) is None, (which, _cycle(template))
