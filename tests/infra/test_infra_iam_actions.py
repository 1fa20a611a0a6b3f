"""Every IAM action in the synthesized templates exists (tests/infra/known_actions.py says against what, and why
not botocore's operation names). The DR and VPC variants are checked in their own modules, on their synths."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Synth
from .known_actions import known_actions, policy_actions, problem, templates_in, unknown_actions

pytestmark = pytest.mark.infra


def test_every_iam_action_in_the_templates_exists(synth: Synth) -> None:
    templates = templates_in(synth.outdir)
    actions = {action for _, template in templates for _, action in policy_actions(template)}
    assert len(actions) > 50, sorted(actions)  # the walk finds the task roles' actions, not only a few
    assert unknown_actions(templates) == []


def test_the_list_holds_actions_not_api_operations() -> None:
    assert len(known_actions()) > 300  # services
    for action in ("s3:GetObject", "s3:ListBucket", "s3:BypassGovernanceRetention", "states:SendTaskSuccess",
                   "kms:GenerateDataKey", "logs:CreateLogStream", "ssm:SendCommand", "iam:PassRole",
                   "S3:getobject"):  # fmt: skip
        assert problem(action) is None, action
    # API operations whose authorization is another action (the S3 API reference, each operation's permissions)
    for operation in ("s3:HeadObject", "s3:ListObjectsV2", "s3:UploadPart", "s3:CreateMultipartUpload"):
        assert problem(operation) == "no such action", operation


def _template(statements: list[dict[str, Any]], permission_action: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Policy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": statements}}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]},
                    "Policies": [{"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt"}]}}],
                },
            },
            "Managed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Statement": [{"Effect": "Deny", "NotAction": ["s3:ListBukket"]}]}},
            },
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": {"Statement": [{"Effect": "Allow", "Action": ["kms:GenerateDatKey*"]}]}},
            },
            "Permission": {"Type": "AWS::Lambda::Permission", "Properties": {"Action": permission_action}},
        }
    }


def test_a_misspelled_or_unlisted_action_is_reported_wherever_it_is() -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["states:SendTaskSuccess", "states:SendTaskSucess"]},
        {"Effect": "Allow", "Action": "kms:GenerateDataKey*"},
        {"Effect": "Allow", "Action": ["s3:Get*", "*", "frobnicate:DoIt", "s3GetObject"]},
    ]
    found = unknown_actions([("probe", _template(statements, "lambda:InvokeFuntion"))])
    assert found == [
        "probe: Policy: 'states:SendTaskSucess' (no such action)",
        "probe: Policy: 's3:Get*' (a wildcard the stacks do not use on purpose (ALLOWED_WILDCARDS))",
        "probe: Policy: '*' (not service:action)",
        "probe: Policy: 'frobnicate:DoIt' (no service with the prefix 'frobnicate')",
        "probe: Policy: 's3GetObject' (not service:action)",
        "probe: Role: 's3:GetObjekt' (no such action)",
        "probe: Managed: 's3:ListBukket' (no such action)",
        "probe: Key: 'kms:GenerateDatKey*' (no such action)",
        "probe: Permission: 'lambda:InvokeFuntion' (no such action)",
    ]
    assert unknown_actions([("probe", _template(statements[1:2], "lambda:InvokeFunction"))]) == [
        "probe: Role: 's3:GetObjekt' (no such action)",
        "probe: Managed: 's3:ListBukket' (no such action)",
        "probe: Key: 'kms:GenerateDatKey*' (no such action)",
    ]
