"""Findings we accept, each with its reason: cdk-nag acknowledgements and cfn-lint suppressions.

cdk-nag 3 removed ``NagSuppressions``; findings are acknowledged through CDK's own ``Validations.of(...)``
(one id per finding, e.g. ``AwsSolutions-IAM5[Resource::*]``; no prefix matching), on the construct that
raises it.

cfn-lint (with the serverless rules, tests/infra) reads a per-resource configuration from the resource's
metadata, ``Metadata: cfn-lint: config: ignore_checks: [...]``; ``suppress_lint`` writes it, and the reason
of each ignored check next to it (``cfn-lint: reasons: {check: reason}``), so the template says why.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

#: the metadata key cfn-lint reads its per-resource configuration from
LINT_METADATA = "cfn-lint"
MIN_REASON = 40


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and the constructs below it)."""
    if len(reason) < 20:
        raise ValueError(f"cdk-nag acknowledgement {rule!r} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def suppress_lint(resource: CfnResource, check: str, reason: str) -> None:
    """Make cfn-lint skip ``check`` on this one resource, recording why in the same metadata entry."""
    if len(reason) < MIN_REASON:
        raise ValueError(f"cfn-lint suppression {check!r} needs a specific reason, got {reason!r}")
    current: dict[str, Any] = resource.get_metadata(LINT_METADATA) or {}
    checks = sorted({*current.get("config", {}).get("ignore_checks", []), check})
    reasons = {**current.get("reasons", {}), check: reason}
    resource.add_metadata(LINT_METADATA, {"config": {"ignore_checks": checks}, "reasons": reasons})
