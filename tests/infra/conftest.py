"""One synth (bundling skipped) per deployment config, shared by the whole infra suite; helpers to read the
templates."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_app
from freshtrack_ops.config import DeploymentConfig, load_deployment_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "config" / "example.yaml"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
#: cfn-lint-serverless (awslabs serverless-rules), loaded as a cfn-lint rules module (--append-rules)
SERVERLESS_RULES = "cfn_lint_serverless.rules"
#: W3005: CDK adds DependsOn on a function's role and default policy (so the policy exists before the function
#: is created); the role half is redundant with the Role GetAtt. Harmless, and not ours to change.
CFN_LINT_IGNORED = ("W3005",)


def cfn_lint(templates: Iterable[Path], *options: str) -> subprocess.CompletedProcess[str]:
    """cfn-lint with the serverless rules over synthesized templates; per-resource suppressions are honoured
    (``Metadata: cfn-lint: config: ignore_checks``, each with its reason next to it, see stacks/nag.py)."""
    paths = [str(path) for path in templates]
    assert paths, "no template to lint"
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--append-rules", SERVERLESS_RULES]
    command += ["--ignore-checks", *CFN_LINT_IGNORED, *options, "--", *paths]
    return subprocess.run(command, capture_output=True, text=True, check=False)


#: the templates (file name and content hash) cfn-lint has passed in this session. cfn-lint's verdict depends on
#: nothing else (same options, same rules), and a variant's templates can come twice: the bundling test's
#: templates with the real asset are byte for byte the example's (the asset hash is ours, ``asset_hash()``, bundled
#: or not: measured, the second lint of them was a cache hit). A cfn-lint run over the four templates of a
#: deployment costs ~20 s in CI and 30-60 s on a loaded machine (its JSON-schema checks, profiled).
_LINT_CLEAN: set[tuple[tuple[str, str], ...]] = set()


def assert_lint_clean(templates: Iterable[Path]) -> None:
    paths = sorted(templates)
    key = tuple((path.name, hashlib.sha256(path.read_bytes()).hexdigest()) for path in paths)
    if key in _LINT_CLEAN:
        return
    result = cfn_lint(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    _LINT_CLEAN.add(key)


@dataclass(frozen=True)
class Synth:
    app: cdk.App
    outdir: Path
    config: DeploymentConfig
    storage: dict[str, Any]
    control: dict[str, Any]
    documents: dict[str, Any]

    @property
    def templates(self) -> dict[str, dict[str, Any]]:
        return {"storage": self.storage, "control": self.control, "documents": self.documents}

    def template(self, which: str) -> Template:
        return Template.from_json(self.templates[which])

    def resources(self, which: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[which]["Resources"].items() if v["Type"] == type_}


@pytest.fixture(scope="session")
def example_config() -> DeploymentConfig:
    return load_deployment_config(EXAMPLE_CONFIG)


def synthesize(config: DeploymentConfig, outdir: Path) -> Synth:
    """Synthesize ``config``'s app into ``outdir`` (raises if cdk-nag reports an unacknowledged finding) and read
    its three templates."""
    app = build_app(config, outdir=str(outdir), context=SKIP_BUNDLING)
    app.synth()

    def load(stack: str) -> dict[str, Any]:
        template: dict[str, Any] = json.loads((outdir / f"{config.name}{stack}.template.json").read_text())
        return template

    return Synth(
        app=app,
        outdir=outdir,
        config=config,
        storage=load("Storage"),
        control=load("ControlPlane"),
        documents=load("HostDocuments"),
    )


@pytest.fixture(scope="session")
def synth_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[DeploymentConfig], Synth]:
    """The synth of a config, made once per session: the example, the DR and the VPC variants are each tested by
    several modules (their own, the cdk-nag acknowledgements, the template sizes), and a synth costs ~6-10 s of
    node (jsii). Measured on tests/infra alone (-n 0, base and this side by side on the same machine), with the
    lint cache below: 453 s -> 396 s of test time, 461 s -> 406 s wall, 301 s -> 250 s CPU. Tests only read a synth
    (its templates, its app's construct tree); one that changes an app builds its own."""
    synths: dict[str, Synth] = {}

    def synth_of(config: DeploymentConfig) -> Synth:
        key = config.model_dump_json()
        if key not in synths:
            synths[key] = synthesize(config, tmp_path_factory.mktemp("cdk.out"))
        return synths[key]

    return synth_of


@pytest.fixture(scope="session")
def synth(synth_of: Callable[[DeploymentConfig], Synth], example_config: DeploymentConfig) -> Synth:
    return synth_of(example_config)


def definition_text(synth: Synth, state_machine: dict[str, Any]) -> str:
    """The definition a state machine deploys: the S3 asset its ``DefinitionS3Location`` names (the ASL files are
    file assets, not inlined: template size), read from the cloud assembly the way the CDK CLI uploads it."""
    location = state_machine["Properties"]["DefinitionS3Location"]
    assets = json.loads((synth.outdir / f"{synth.config.name}ControlPlane.assets.json").read_text())
    (source,) = [
        asset["source"]
        for asset in assets["files"].values()
        if any(d["objectKey"] == location["Key"] for d in asset["destinations"].values())
    ]
    assert source["packaging"] == "file", source
    return (synth.outdir / str(source["path"])).read_text(encoding="utf-8")


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return list(resource) if isinstance(resource, list) else [resource]


def flatten(value: Any) -> str:
    """A template value as text: ``Fn::Join`` joined, ``Ref``/``Fn::GetAtt``/``Fn::ImportValue`` as ``${...}``,
    an ``Fn::Sub`` string (without variables map) as written."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::Join":
            separator, parts = arg
            return str(separator).join(flatten(part) for part in parts)
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            return f"${{{arg[0]}.{arg[1]}}}"
        if key == "Fn::ImportValue":
            return f"${{Import:{flatten(arg)}}}"
        if key == "Fn::Sub" and isinstance(arg, str):
            return arg  # ${AWS::Partition} etc. read as Ref renders them
    raise ValueError(f"cannot flatten {value!r}")


def task_functions(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Task name -> (logical id, properties) of its function, matched through the handler string."""
    from freshtrack_ops.tasks import TASKS

    by_handler = {task.handler: name for name, task in TASKS.items()}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in synth.resources("control", "AWS::Lambda::Function").items():
        found[by_handler[resource["Properties"]["Handler"]]] = (logical_id, resource["Properties"])
    return found


def role_policies(synth: Synth, task: str) -> dict[str, dict[str, Any]]:
    """Every ``AWS::IAM::Policy`` attached to the task's role (logical id -> resource)."""
    _, props = task_functions(synth)[task]
    role_id = props["Role"]["Fn::GetAtt"][0]
    role = synth.control["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    return {
        logical_id: p
        for logical_id, p in synth.resources("control", "AWS::IAM::Policy").items()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    }


def role_statements(synth: Synth, task: str) -> list[dict[str, Any]]:
    return [s for p in role_policies(synth, task).values() for s in statements(p)]


def allowed_actions(statement_list: list[dict[str, Any]]) -> set[str]:
    return {a for s in statement_list if s["Effect"] == "Allow" for a in actions_of(s)}
