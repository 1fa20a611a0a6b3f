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


# The reasons below go into every skipped resource's metadata: the control plane has 67 functions, and a 500-
# character reason on each of their four skips took its template from 517 KB to 653 KB (20 targets: 769 KB of the
# 1 MB CloudFormation accepts). So each says why in about 200 characters (584 KB; 20 targets 701 KB); the evidence
# is next to it here and in docs/configuration.md ("Security scan (checkov)").
#
# CKV_AWS_115 (function-level concurrency limit): a reservation is both a floor and a cap ("Configuring reserved
# concurrency", Lambda developer guide); the scheduled backups of every target start together, a fleet update runs
# hosts in parallel and an alert storm fans out, so a cap throttles them as Lambda 429s mid-workflow. Each
# reservation is taken from every other function of the account, which must keep 100 unreserved ("You can reserve
# up to the Unreserved account concurrency value ... minus 100"). The webhook, the one path callers outside AWS
# drive, is bounded by its API Gateway stage throttling instead (stacks/webhook.py).
RESERVED_CONCURRENCY_REASON = (
    "Relies on the account's unreserved concurrency on purpose: a reservation is also a cap that would throttle "
    "simultaneous backups, fleet updates and alert storms, and it is taken from every other function of the account."
)
# CKV_AWS_116 (DeadLetterConfig): Lambda sends to a DLQ only events of asynchronous invocations; destinations are the
# developer guide's recommendation for those ("Capturing records of Lambda asynchronous invocations") and carry the
# error and the response. test_infra_dead_letters.py checks that every asynchronously invoked function has one.
ASYNC_DEAD_LETTER_REASON = (
    "Invoked asynchronously: what fails after the retries goes to the OnFailure destination of its EventInvokeConfig "
    "(an SQS queue with an alarm), which Lambda recommends over a DeadLetterConfig; checkov reads only the latter."
)
SYNC_DEAD_LETTER_REASON = (
    "Invoked synchronously only (Step Functions tasks, the webhook's API Gateway): Lambda uses a DeadLetterConfig "
    "for asynchronous invocations alone; a failure returns to the caller's Retry/Catch."
)
# CKV_AWS_117 (function in a VPC): the VPC is optional by design (docs/configuration.md, vpc): the functions reach
# the hosts (SSH or SSM) and the AWS APIs from Lambda's network; a VPC needs subnets routed through a NAT gateway or
# VPC endpoints that only the operator can provide, so it is configured, never guessed.
NO_VPC_REASON = (
    "The deployment file has no vpc: section, and a VPC is optional by design (docs/configuration.md, vpc). With "
    "vpc: every function gets a VpcConfig and this check passes."
)
# CKV_AWS_173 (environment encrypted with a customer-managed key): the environment is names, ARNs and settings
# (control_plane_stack.py ``environment``; secrets stay in Secrets Manager, read by ARN at run time), encrypted at
# rest by Lambda with its AWS managed key. The only customer-managed key is the data key, and a function decrypting
# its environment with it needs kms:Decrypt on it in its role: every role could then decrypt what the key protects.
ENVIRONMENT_KEY_REASON = (
    "The environment holds names, ARNs and settings, never a secret, and Lambda encrypts it at rest; a customer "
    "key would give every role kms:Decrypt on the data key that protects the backups."
)
# CKV_AWS_27 (SQS KmsMasterKeyId): checkov's CloudFormation check reads only KmsMasterKeyId, where its Terraform twin
# accepts sqs_managed_sse_enabled. A KMS key would need key-policy grants to EventBridge and SNS, which deliver to
# these dead-letter queues, for no gain over SSE-SQS.
SSE_SQS_REASON = (
    "The queue is encrypted at rest with SSE-SQS (SqsManagedSseEnabled: true); checkov's CloudFormation check reads "
    "only KmsMasterKeyId. A KMS key would need key-policy grants to EventBridge and SNS for no gain."
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
            skip_checkov(function, "CKV_AWS_116", ASYNC_DEAD_LETTER_REASON if asynchronous else SYNC_DEAD_LETTER_REASON)
        if function.vpc_config is None:
            skip_checkov(function, "CKV_AWS_117", NO_VPC_REASON)
        if function.kms_key_arn is None:
            skip_checkov(function, "CKV_AWS_173", ENVIRONMENT_KEY_REASON)
