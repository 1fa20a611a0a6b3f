"""One synth (bundling skipped) shared by the whole infra suite; helpers to read the templates."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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


@dataclass(frozen=True)
class Synth:
    app: cdk.App
    outdir: Path
    config: DeploymentConfig
    storage: dict[str, Any]
    control: dict[str, Any]

    @property
    def templates(self) -> dict[str, dict[str, Any]]:
        return {"storage": self.storage, "control": self.control}

    def template(self, which: str) -> Template:
        return Template.from_json(self.templates[which])

    def resources(self, which: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[which]["Resources"].items() if v["Type"] == type_}


@pytest.fixture(scope="session")
def example_config() -> DeploymentConfig:
    return load_deployment_config(EXAMPLE_CONFIG)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, example_config: DeploymentConfig) -> Iterator[Synth]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(example_config, outdir=str(outdir), context=SKIP_BUNDLING)
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    name = example_config.name

    def load(stack: str) -> dict[str, Any]:
        template: dict[str, Any] = json.loads((outdir / f"{stack}.template.json").read_text())
        return template

    yield Synth(
        app=app,
        outdir=outdir,
        config=example_config,
        storage=load(f"{name}Storage"),
        control=load(f"{name}ControlPlane"),
    )


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return list(resource) if isinstance(resource, list) else [resource]
