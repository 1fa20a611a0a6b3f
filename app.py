#!/usr/bin/env python3
"""CDK entry point: load and validate the deployment config, build the stacks, attach cdk-nag, synth.

The config file comes from (first match): env ``FRESHTRACK_CONFIG``, context ``-c config=PATH``
(``cdk.json`` sets the default), else ``config/example.yaml``. An invalid file exits 2 with one line per
problem naming the field and the value; nothing is synthesized.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "functions"))

from freshtrack_ops.config import DeploymentConfig, load_deployment_config  # noqa: E402 - needs functions/ on sys.path
from freshtrack_ops.errors import ConfigError  # noqa: E402

if TYPE_CHECKING:
    import aws_cdk as cdk

DEFAULT_CONFIG = "config/example.yaml"
CONFIG_ENV = "FRESHTRACK_CONFIG"

#: feature flags the stacks rely on; also in cdk.json, applied here so `python app.py` and tests agree
FEATURE_FLAGS: dict[str, Any] = {
    # server access logs are delivered through a bucket policy (the log bucket enforces object ownership)
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/core:target-partitions": ["aws"],
}


def build_app(config: DeploymentConfig, outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The CDK app of one deployment: storage, host documents and control-plane stacks, cdk-nag AwsSolutions
    checks, and the checkov skips (``stacks.nag.CheckovSkips``)."""
    # imported here so a bad config is reported before the jsii/node runtime starts (~2 s)
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from stacks.control_plane_stack import ControlPlaneStack
    from stacks.nag import CheckovSkips
    from stacks.ssm_documents import HostDocumentsStack, document_prefix
    from stacks.storage_stack import StorageStack

    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    storage = StorageStack(
        app,
        f"{config.name}Storage",
        config=config,
        description="FreshTrack Ops: KMS key, backup bucket, ops table (retained)",
    )
    documents = HostDocumentsStack(
        app,
        f"{config.name}HostDocuments",
        prefix=document_prefix(config.name),
        description="FreshTrack Ops: the SSM Command documents of the host scripts",
    )
    ControlPlaneStack(
        app,
        f"{config.name}ControlPlane",
        config=config,
        storage=storage,
        documents=documents,
        description="FreshTrack Ops: task functions, workflows, schedules, notifications",
    )
    cdk.Tags.of(app).add("application", "freshtrack-ops")
    cdk.Tags.of(app).add("deployment", config.name)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # the checkov findings that are wrong for this product, skipped in each resource's metadata with the reason
    cdk.Aspects.of(app).add(CheckovSkips())
    return app


def _context_config() -> str | None:
    """``-c config=...`` as the CDK CLI passes it (CDK_CONTEXT_JSON), before an App exists."""
    raw = os.environ.get("CDK_CONTEXT_JSON")
    if raw:
        value = json.loads(raw).get("config")
        if isinstance(value, str) and value:
            return value
    return None


def config_path() -> Path:
    chosen = os.environ.get(CONFIG_ENV) or _context_config() or DEFAULT_CONFIG
    path = Path(chosen)
    return path if path.is_absolute() else Path.cwd() / path


def main() -> None:
    try:
        config = load_deployment_config(config_path())
    except ConfigError as exc:
        print(f"invalid deployment config: {exc}", file=sys.stderr)
        sys.exit(2)
    build_app(config).synth()


if __name__ == "__main__":
    main()
