"""cdk-nag 3.x acknowledgements: every finding is acknowledged on the construct that raises it, with a reason.

cdk-nag 3 removed ``NagSuppressions``; findings are acknowledged through CDK's own ``Validations.of(...)``
(one id per finding, e.g. ``AwsSolutions-IAM5[Resource::*]``; no prefix matching).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and the constructs below it)."""
    if len(reason) < 20:
        raise ValueError(f"cdk-nag acknowledgement {rule!r} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
