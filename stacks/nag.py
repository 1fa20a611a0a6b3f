"""Findings we accept, each with its reason: cdk-nag acknowledgements, cfn-lint suppressions and checkov skips.

cdk-nag 3 removed ``NagSuppressions``; findings are acknowledged through CDK's own ``Validations.of(...)``
(one id per finding, e.g. ``AwsSolutions-IAM5[Resource::*]``; no prefix matching), on the construct that
raises it.

cfn-lint (with the serverless rules, tests/infra) reads a per-resource configuration from the resource's
metadata, ``Metadata: cfn-lint: config: ignore_checks: [...]``; ``suppress_lint`` writes it, and the reason
of each ignored check next to it (``cfn-lint: reasons: {check: reason}``), so the template says why.

checkov (tests/infra/test_infra_checkov.py) reads ``Metadata: checkov: skip: [{id, comment}]``; ``skip_checkov``
writes it. Most skips come from one place, the ``CheckovSkips`` aspect that ``app.build_app`` applies to the app:
it looks at each resource as synthesized and skips a check only where the property that makes the check wrong for
this product holds (a function outside a VPC when the deployment has no ``vpc:``, a queue encrypted by SSE-SQS),
so a skip cannot outlive its reason. A skip only one construct can justify is written there (the access-log
bucket, stacks/storage_stack.py).
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Acknowledgment, CfnResource, IAspect, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

#: the metadata key cfn-lint reads its per-resource configuration from
LINT_METADATA = "cfn-lint"
#: the metadata key checkov reads its per-resource skips from (``skip: [{id, comment}]``)
CHECKOV_METADATA = "checkov"
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


def skip_checkov(resource: CfnResource, check: str, reason: str) -> None:
    """Make checkov skip ``check`` on this one resource, with why as the skip's comment (checkov reports it)."""
    if len(reason) < MIN_REASON:
        raise ValueError(f"checkov skip {check!r} needs a specific reason, got {reason!r}")
    current: dict[str, Any] = resource.get_metadata(CHECKOV_METADATA) or {}
    skips = [skip for skip in current.get("skip", []) if skip["id"] != check]
    skips.append({"id": check, "comment": reason})
    resource.add_metadata(CHECKOV_METADATA, {"skip": sorted(skips, key=lambda skip: str(skip["id"]))})


#: CKV_AWS_115 (function-level concurrency limit)
RESERVED_CONCURRENCY_REASON = (
    "The product relies on the account's unreserved concurrency on purpose. A reservation is also a cap: the "
    "scheduled backups of every target start together, a fleet update runs hosts in parallel and an alert storm "
    "fans out, and a cap would throttle them as Lambda 429s mid-workflow. Each reservation is also taken from every "
    "other function of the account, which must keep 100 unreserved (Lambda developer guide, 'Configuring reserved "
    "concurrency'): one per task function would not fit a new account's quota. The webhook, the one path callers "
    "outside AWS drive, is bounded by its API Gateway stage throttling instead (stacks/webhook.py)."
)
#: CKV_AWS_116 (DeadLetterConfig), a function Lambda invokes asynchronously
ASYNC_DEAD_LETTER_REASON = (
    "Invoked asynchronously (an EventBridge rule or an SNS subscription): what still fails after the retries goes "
    "to the OnFailure destination of its AWS::Lambda::EventInvokeConfig, an SQS dead-letter queue with an alarm "
    "(tests/infra/test_infra_dead_letters.py). The Lambda developer guide recommends destinations over a "
    "DeadLetterConfig, which would receive the same events with less context; checkov reads only the latter."
)
#: CKV_AWS_116 (DeadLetterConfig), a function only ever invoked synchronously
SYNC_DEAD_LETTER_REASON = (
    "Invoked synchronously only (Step Functions Task states, or the webhook's API Gateway integration): Lambda "
    "uses a DeadLetterConfig for asynchronous invocations alone, so it would never receive anything. A failure "
    "returns to the caller, where the workflow's Retry/Catch handle it (tests/asl) or API Gateway answers 5xx."
)
#: CKV_AWS_117 (function in a VPC), a deployment without ``vpc:``
NO_VPC_REASON = (
    "The deployment file has no vpc: section, and a VPC is optional by design (docs/configuration.md, vpc): the "
    "functions reach the hosts (SSH to their address, or SSM) and the AWS APIs from Lambda's own network. With "
    "vpc: configured every function gets a VpcConfig in those subnets and security groups, and this check passes; "
    "without one, a VPC would need subnets routed through a NAT gateway or VPC endpoints the product cannot guess."
)
#: CKV_AWS_173 (environment encrypted with a customer-managed key)
ENVIRONMENT_KEY_REASON = (
    "The environment holds names, ARNs and settings, never a secret (secrets stay in Secrets Manager, read by ARN "
    "at run time), and Lambda encrypts it at rest with its AWS managed key anyway. A customer-managed key here "
    "would have to be the deployment's data key, and every function's role would need kms:Decrypt on the key that "
    "also protects the backups: a wider grant for no secret protected."
)
#: CKV_AWS_27 (SQS KmsMasterKeyId), a queue encrypted with SSE-SQS
SSE_SQS_REASON = (
    "The queue IS encrypted at rest, with SSE-SQS (SqsManagedSseEnabled: true, tests/infra/"
    "test_infra_dead_letters.py); checkov's CloudFormation CKV_AWS_27 reads only KmsMasterKeyId (its Terraform twin "
    "accepts sqs_managed_sse_enabled). A KMS key would need key-policy grants to EventBridge and SNS, which "
    "deliver to these dead-letter queues, for no gain over SSE-SQS."
)


@jsii.implements(IAspect)
class CheckovSkips:
    """The checkov skips that depend on how a resource came out (see the module docstring)."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, lambda_.CfnFunction):
            self._function(node)
        elif isinstance(node, sqs.CfnQueue) and node.sqs_managed_sse_enabled is True and node.kms_master_key_id is None:
            skip_checkov(node, "CKV_AWS_27", SSE_SQS_REASON)

    @staticmethod
    def _function(function: lambda_.CfnFunction) -> None:
        if function.reserved_concurrent_executions is None:
            skip_checkov(function, "CKV_AWS_115", RESERVED_CONCURRENCY_REASON)
        if function.dead_letter_config is None:
            # lambda_.Function.configure_async_invoke (an on-failure destination) adds this child next to ours
            asynchronous = function.node.scope is not None and (
                function.node.scope.node.try_find_child("EventInvokeConfig") is not None
            )
            skip_checkov(
                function, "CKV_AWS_116", ASYNC_DEAD_LETTER_REASON if asynchronous else SYNC_DEAD_LETTER_REASON
            )
        if function.vpc_config is None:
            skip_checkov(function, "CKV_AWS_117", NO_VPC_REASON)
        if function.kms_key_arn is None:
            skip_checkov(function, "CKV_AWS_173", ENVIRONMENT_KEY_REASON)
