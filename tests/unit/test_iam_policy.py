"""The local plane's IAM: policy evaluation, the call -> authorization table, AWS's denial, task threads."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import botocore.client  # noqa: F401 - imported at collection: urllib3 probes IPv6 with a socket on import
import pytest
from botocore.exceptions import ClientError

from opsctl.local import iam
from opsctl.local.iam_actions import UnmappedOperation, requests_for
from opsctl.local.iam_policy import ContextValue, Decision, Policy, Request, UnsupportedPolicy

BUCKET_ARN = "arn:aws:s3:::bucket"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/k1"


ACCOUNT = "123456789012"
#: the plane's launch templates by name
TEMPLATES = {"lt": "lt-0123456789abcdef0", "other": "lt-0fedcba9876543210"}
DR_TAGS = {
    "freshtrack-ops:dr-id": "dr-demo-20261130T134103Z-0a1b2c3d",
    "freshtrack-ops:host": "demo",
    "freshtrack-ops:mode": "drill",
    "freshtrack-ops:execution": "arn:aws:states:us-east-1:123456789012:execution:m:run-1",
}
INSTANCE_TAGS = {
    "i-drill": DR_TAGS,
    "i-recover": DR_TAGS | {"freshtrack-ops:mode": "recover"},
    "i-primary": {"Name": "freshtrack"},
}


class FakeLookup:
    def __init__(self, key_arn: str | None = KEY_ARN) -> None:
        self.key_arn = key_arn

    def bucket_key_arn(self, bucket: str) -> str | None:
        return self.key_arn

    def secret_arn(self, secret_id: str) -> str:
        return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret_id}-AbCdEf"

    def token_state_machine(self, token: str) -> str | None:
        return "arn:aws:states:us-east-1:123456789012:stateMachine:m" if token == "known" else None

    def launch_template(self, spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        template = spec.get("LaunchTemplateId") or TEMPLATES[spec["LaunchTemplateName"]]
        profile = "prof" if template == TEMPLATES["lt"] else "other-prof"
        data = {"ImageId": "ami-1", "KeyName": "kp", "IamInstanceProfile": {"Name": profile}}
        return f"arn:aws:ec2:us-east-1:123456789012:launch-template/{template}", data

    def instance_profile_role(self, profile: Mapping[str, Any]) -> str | None:
        return f"arn:aws:iam::123456789012:role/{profile['Name']}-role"

    def instance_tags(self, instance_id: str) -> Mapping[str, str]:
        return INSTANCE_TAGS.get(instance_id, {})

    def partition_key(self, table: str, index: str | None) -> str:
        return "pk"


def allow(actions: Any, resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def test_an_allow_statement_allows_its_action_on_its_resources_only() -> None:
    policy = Policy.from_statements([allow("s3:GetObject", f"{BUCKET_ARN}/backups/*")])
    assert policy.decide(Request("s3:GetObject", f"{BUCKET_ARN}/backups/a/b.dump")) is Decision.ALLOW
    assert policy.decide(Request("S3:getobject", f"{BUCKET_ARN}/backups/x")) is Decision.ALLOW  # actions fold case
    assert policy.decide(Request("s3:GetObject", f"{BUCKET_ARN}/BACKUPS/x")) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("s3:PutObject", f"{BUCKET_ARN}/backups/x")) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("s3:GetObject", f"{BUCKET_ARN}/deploy-logs/x")) is Decision.IMPLICIT_DENY


def test_wildcards_star_and_question_mark_in_actions_and_resources() -> None:
    policy = Policy.from_statements([allow("dynamodb:*Item", "arn:aws:dynamodb:*:*:table/t?")])
    assert policy.decide(Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/t1")) is Decision.ALLOW
    assert policy.decide(Request("dynamodb:Query", "arn:aws:dynamodb:us-east-1:1:table/t1")) is Decision.IMPLICIT_DENY
    assert (
        policy.decide(Request("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t12")) is Decision.IMPLICIT_DENY
    )


def test_an_explicit_deny_wins_and_not_elements_invert() -> None:
    policy = Policy.from_statements(
        [
            allow("s3:*", "*"),
            {"Effect": "Deny", "NotAction": "s3:Get*", "NotResource": f"{BUCKET_ARN}/scratch/*"},
        ]
    )
    assert policy.decide(Request("s3:GetObject", f"{BUCKET_ARN}/a")) is Decision.ALLOW
    assert policy.decide(Request("s3:PutObject", f"{BUCKET_ARN}/scratch/a")) is Decision.ALLOW
    assert policy.decide(Request("s3:PutObject", f"{BUCKET_ARN}/a")) is Decision.EXPLICIT_DENY


def test_string_like_condition_needs_the_key_in_the_request() -> None:
    policy = Policy.from_statements(
        [allow("s3:ListBucket", BUCKET_ARN, Condition={"StringLike": {"s3:prefix": ["ssm-exchange/*"]}})]
    )
    assert policy.decide(Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "ssm-exchange/u1/"})) is Decision.ALLOW
    assert policy.decide(Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "backups/"})) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("s3:ListBucket", BUCKET_ARN)) is Decision.IMPLICIT_DENY  # no Prefix: key absent


def test_a_condition_operator_not_modelled_fails_loudly() -> None:
    with pytest.raises(UnsupportedPolicy, match="IpAddress"):
        Policy.from_statements([allow("s3:*", "*", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}})])
    for operator in ("Bool", "StringEqualsIfExists", "ForEachValue:StringEquals", "ForAllValues:Null"):
        with pytest.raises(UnsupportedPolicy, match=operator):
            Policy.from_statements([allow("s3:*", "*", Condition={operator: {"k": "v"}})])


R53 = "route53:ChangeResourceRecordSets"
ZONE = "arn:aws:route53:::hostedzone/Z1"


def _records_policy(*, paired: bool) -> Policy:
    condition: dict[str, Any] = {
        "ForAllValues:StringEquals": {
            f"{R53}NormalizedRecordNames": ["demo.example.com"],
            f"{R53}Actions": ["UPSERT"],
        }
    }
    if paired:
        condition["Null"] = {f"{R53}NormalizedRecordNames": "false", f"{R53}Actions": "false"}
    return Policy.from_statements([allow(R53, ZONE, Condition=condition)])


def _change(names: tuple[str, ...], actions: tuple[str, ...]) -> Request:
    return Request(R53, ZONE, {f"{R53}NormalizedRecordNames": names, f"{R53}Actions": actions})


def test_for_all_values_needs_every_value_of_the_set_in_the_policy() -> None:
    policy = _records_policy(paired=True)
    assert policy.decide(_change(("demo.example.com",), ("UPSERT",))) is Decision.ALLOW
    assert policy.decide(_change(("demo.example.com", "demo.example.com"), ("UPSERT", "UPSERT"))) is Decision.ALLOW
    # one foreign value in the set is enough to deny: another record, or a DELETE next to the UPSERT
    assert policy.decide(_change(("demo.example.com", "mail.example.com"), ("UPSERT",) * 2)) is Decision.IMPLICIT_DENY
    assert policy.decide(_change(("demo.example.com",) * 2, ("UPSERT", "DELETE"))) is Decision.IMPLICIT_DENY


def test_for_all_values_is_true_for_a_missing_or_empty_set_unless_paired_with_null_false() -> None:
    """The IAM guide: ForAllValues "also returns true if there are no context keys in the request"; a Null
    condition with false next to it is what makes a missing or empty key deny."""
    unpaired, paired = _records_policy(paired=False), _records_policy(paired=True)
    for request in (Request(R53, ZONE), _change((), ())):
        assert unpaired.decide(request) is Decision.ALLOW
        assert paired.decide(request) is Decision.IMPLICIT_DENY


def test_for_any_value_needs_one_match_and_a_present_key() -> None:
    policy = Policy.from_statements(
        [allow("ec2:RunInstances", "*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "env*"}})]
    )
    assert policy.decide(Request("ec2:RunInstances", "*", {"aws:TagKeys": ("owner", "environment")})) is Decision.ALLOW
    assert policy.decide(Request("ec2:RunInstances", "*", {"aws:TagKeys": ("owner",)})) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("ec2:RunInstances", "*", {"aws:TagKeys": ()})) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("ec2:RunInstances", "*")) is Decision.IMPLICIT_DENY


def test_negated_set_operators_test_each_value() -> None:
    deny = {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"}
    policy = Policy.from_statements(
        [allow("ec2:CreateTags", "*"), deny | {"Condition": {"ForAnyValue:StringNotLike": {"aws:TagKeys": "app:*"}}}]
    )
    assert policy.decide(Request("ec2:CreateTags", "*", {"aws:TagKeys": ("app:a", "app:b")})) is Decision.ALLOW
    assert policy.decide(Request("ec2:CreateTags", "*", {"aws:TagKeys": ("app:a", "x")})) is Decision.EXPLICIT_DENY


def test_null_tests_presence() -> None:
    present = Policy.from_statements([allow("s3:ListBucket", BUCKET_ARN, Condition={"Null": {"s3:prefix": "false"}})])
    absent = Policy.from_statements([allow("s3:ListBucket", BUCKET_ARN, Condition={"Null": {"s3:prefix": "true"}})])
    with_prefix = Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": ""})
    without = Request("s3:ListBucket", BUCKET_ARN)
    assert present.decide(with_prefix) is Decision.ALLOW and present.decide(without) is Decision.IMPLICIT_DENY
    assert absent.decide(without) is Decision.ALLOW and absent.decide(with_prefix) is Decision.IMPLICIT_DENY


def test_a_multivalued_key_without_a_set_operator_fails_loudly() -> None:
    policy = Policy.from_statements([allow(R53, ZONE, Condition={"StringEquals": {f"{R53}Actions": "UPSERT"}})])
    with pytest.raises(UnsupportedPolicy, match="multivalued"):
        policy.decide(_change(("a",), ("UPSERT",)))


def test_arn_operators_match_component_by_component() -> None:
    template = "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0"
    policy = Policy.from_statements(
        [allow("ec2:RunInstances", "*", Condition={"ArnEquals": {"ec2:LaunchTemplate": [template]}})]
    )
    assert policy.decide(Request("ec2:RunInstances", "*", {"ec2:LaunchTemplate": template})) is Decision.ALLOW
    other = template.replace("lt-0123", "lt-9123")
    assert policy.decide(Request("ec2:RunInstances", "*", {"ec2:LaunchTemplate": other})) is Decision.IMPLICIT_DENY
    assert policy.decide(Request("ec2:RunInstances", "*")) is Decision.IMPLICIT_DENY
    like = Policy.from_statements(
        [
            allow(
                "ec2:RunInstances",
                "*",
                Condition={"ArnLike": {"ec2:LaunchTemplate": "arn:aws:ec2:*:*:launch-template/*"}},
            )
        ]
    )
    assert like.decide(Request("ec2:RunInstances", "*", {"ec2:LaunchTemplate": template})) is Decision.ALLOW
    # a wildcard never spans components: the region's "*" cannot eat the account's colon
    assert like.decide(Request("ec2:RunInstances", "*", {"ec2:LaunchTemplate": "arn:aws:ec2:r:launch-template/x"})) is (
        Decision.IMPLICIT_DENY
    )


def test_s3_operations_map_to_their_documented_actions_and_the_data_key() -> None:
    lookup = FakeLookup()
    assert requests_for("s3", "HeadObject", {"Bucket": "bucket", "Key": "k"}, lookup) == [
        Request("s3:GetObject", f"{BUCKET_ARN}/k")
    ]
    assert requests_for("s3", "CreateMultipartUpload", {"Bucket": "bucket", "Key": "k", "Tagging": "a=b"}, lookup) == [
        Request("s3:PutObject", f"{BUCKET_ARN}/k"),
        Request("s3:PutObjectTagging", f"{BUCKET_ARN}/k"),
        Request("kms:GenerateDataKey", KEY_ARN),
        Request("kms:Decrypt", KEY_ARN),
    ]
    assert requests_for("s3", "GetObject", {"Bucket": "bucket", "Key": "k", "VersionId": "v"}, lookup)[0] == Request(
        "s3:GetObjectVersion", f"{BUCKET_ARN}/k"
    )
    assert requests_for("s3", "ListObjectsV2", {"Bucket": "bucket", "Prefix": "p/"}, lookup) == [
        Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "p/"})
    ]
    assert requests_for("s3", "ListParts", {"Bucket": "bucket", "Key": "k", "UploadId": "u"}, lookup) == [
        Request("s3:ListMultipartUploadParts", f"{BUCKET_ARN}/k")
    ]
    deletes = {"Bucket": "bucket", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v"}]}}
    assert requests_for("s3", "DeleteObjects", deletes, lookup) == [
        Request("s3:DeleteObject", f"{BUCKET_ARN}/a"),
        Request("s3:DeleteObjectVersion", f"{BUCKET_ARN}/b"),
    ]
    # deleting a version GOVERNANCE-mode Object Lock retains needs the bypass header and its own permission
    bypass = {"Bucket": "bucket", "Key": "k", "VersionId": "v", "BypassGovernanceRetention": True}
    assert requests_for("s3", "DeleteObject", bypass, lookup) == [
        Request("s3:DeleteObjectVersion", f"{BUCKET_ARN}/k"),
        Request("s3:BypassGovernanceRetention", f"{BUCKET_ARN}/k"),
    ]
    assert requests_for("s3", "DeleteObjects", deletes | {"BypassGovernanceRetention": True}, lookup)[-1] == Request(
        "s3:BypassGovernanceRetention", f"{BUCKET_ARN}/b"
    )
    copy = {"Bucket": "bucket", "Key": "to", "CopySource": "other/from%20x?versionId=1"}
    assert requests_for("s3", "CopyObject", copy, lookup)[:2] == [
        Request("s3:GetObjectVersion", "arn:aws:s3:::other/from x"),
        Request("s3:PutObject", f"{BUCKET_ARN}/to"),
    ]
    assert requests_for("s3", "PutObject", {"Bucket": "bucket", "Key": "k"}, FakeLookup(None)) == [
        Request("s3:PutObject", f"{BUCKET_ARN}/k")  # no SSE-KMS: no key
    ]


def test_other_services_map_to_their_resources() -> None:
    lookup = FakeLookup()
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    assert requests_for("dynamodb", "Query", {"TableName": "t", "IndexName": "i"}, lookup) == [
        Request("dynamodb:Query", f"{table}/index/i")
    ]
    transact = {"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]}
    assert [r.action for r in requests_for("dynamodb", "TransactWriteItems", transact, lookup)] == [
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
    ]
    send = {"DocumentName": "Local-FreshTrackOps-x", "InstanceIds": ["mi-1", "i-2"]}
    assert [r.resource for r in requests_for("ssm", "SendCommand", send, lookup)] == [
        "arn:aws:ssm:us-east-1:123456789012:document/Local-FreshTrackOps-x",
        "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-1",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-2",
    ]
    assert requests_for("ssm", "GetParameter", {"Name": "/a/b"}, lookup) == [
        Request("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/a/b")
    ]
    assert requests_for("secretsmanager", "GetSecretValue", {"SecretId": "name"}, lookup)[0].resource.endswith(
        ":secret:name-AbCdEf"
    )
    assert requests_for("secretsmanager", "PutSecretValue", {"SecretId": "name", "SecretString": "x"}, lookup) == [
        Request("secretsmanager:PutSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:name-AbCdEf")
    ]
    assert requests_for("stepfunctions", "SendTaskSuccess", {"taskToken": "known", "output": "{}"}, lookup) == [
        Request("states:SendTaskSuccess", "arn:aws:states:us-east-1:123456789012:stateMachine:m")
    ]
    # a token no execution holds: the service's own refusal (TaskTimedOut, InvalidToken) answers
    assert requests_for("stepfunctions", "SendTaskFailure", {"taskToken": "gone"}, lookup) == []


EC2 = "arn:aws:ec2:us-east-1:123456789012"


def test_run_instances_from_a_template_needs_every_resource_tagging_and_pass_role() -> None:
    params = {
        "LaunchTemplate": {"LaunchTemplateName": "lt"},
        "MinCount": 1,
        "MaxCount": 1,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "execution", "Value": "e1"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "execution", "Value": "e1"}, {"Key": "b", "Value": "2"}]},
        ],
    }
    requests = requests_for("ec2", "RunInstances", params, FakeLookup())
    template = {"ec2:LaunchTemplate": f"{EC2}:launch-template/lt-0123456789abcdef0"}
    instance_tags: dict[str, ContextValue] = {"aws:RequestTag/execution": "e1", "aws:TagKeys": ("execution",)}
    volume_tags: dict[str, ContextValue] = {
        "aws:RequestTag/execution": "e1",
        "aws:RequestTag/b": "2",
        "aws:TagKeys": ("execution", "b"),
    }
    launched = {r.resource: r.context for r in requests if r.action == "ec2:RunInstances"}
    assert launched == {
        # the created resources with their own tag specification's tags; every resource with the template
        f"{EC2}:instance/*": template | instance_tags,
        f"{EC2}:volume/*": template | volume_tags,
        f"{EC2}:network-interface/*": template,
        f"{EC2}:security-group/*": template,
        f"{EC2}:subnet/*": template,
        "arn:aws:ec2:us-east-1::image/ami-1": template,
        f"{EC2}:launch-template/lt-0123456789abcdef0": template,
        f"{EC2}:key-pair/kp": template,
    }
    tagging = [r for r in requests if r.action == "ec2:CreateTags"]
    assert tagging == [
        Request("ec2:CreateTags", f"{EC2}:instance/*", instance_tags | {"ec2:CreateAction": "RunInstances"}),
        Request("ec2:CreateTags", f"{EC2}:volume/*", volume_tags | {"ec2:CreateAction": "RunInstances"}),
    ]
    assert requests[-1] == Request(
        "iam:PassRole", "arn:aws:iam::123456789012:role/prof-role", {"iam:PassedToService": "ec2.amazonaws.com"}
    )


def test_instance_calls_name_each_instance_with_its_tags() -> None:
    lookup = FakeLookup()
    recover = {f"aws:ResourceTag/{k}": v for k, v in INSTANCE_TAGS["i-recover"].items()}
    recover |= {f"ec2:ResourceTag/{k}": v for k, v in INSTANCE_TAGS["i-recover"].items()}
    assert requests_for("ec2", "TerminateInstances", {"InstanceIds": ["i-recover", "i-2"]}, lookup) == [
        Request("ec2:TerminateInstances", f"{EC2}:instance/i-recover", recover),
        Request("ec2:TerminateInstances", f"{EC2}:instance/i-2"),
    ]
    assert requests_for("ec2", "GetConsoleOutput", {"InstanceId": "i-recover"}, lookup) == [
        Request("ec2:GetConsoleOutput", f"{EC2}:instance/i-recover", recover)
    ]
    assert requests_for("ec2", "DescribeInstances", {"InstanceIds": ["i-1"]}, lookup) == [
        Request("ec2:DescribeInstances", "*")
    ]
    # SendCommand to an EC2 instance: Systems Manager's own tag key
    send = requests_for("ssm", "SendCommand", {"DocumentName": "d", "InstanceIds": ["i-drill"]}, lookup)
    assert send[1].context["ssm:resourceTag/freshtrack-ops:mode"] == "drill"


def test_a_route53_change_batch_is_one_request_with_multivalued_normalized_keys() -> None:
    batch = {
        "Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": "Demo.FreshTrack.local.", "Type": "A"}},
            {"Action": "DELETE", "ResourceRecordSet": {"Name": "*.x.local", "Type": "TXT"}},
        ]
    }
    requests = requests_for(
        "route53", "ChangeResourceRecordSets", {"HostedZoneId": "/hostedzone/Z1", "ChangeBatch": batch}, FakeLookup()
    )
    zone = "arn:aws:route53:::hostedzone/Z1"
    prefix = "route53:ChangeResourceRecordSets"
    assert requests == [
        Request(
            prefix,
            zone,
            {
                f"{prefix}NormalizedRecordNames": ("demo.freshtrack.local", "\\052.x.local"),
                f"{prefix}RecordTypes": ("A", "TXT"),
                f"{prefix}Actions": ("UPSERT", "DELETE"),
            },
        )
    ]
    assert requests_for("route53", "GetChange", {"Id": "/change/C1"}, FakeLookup()) == [
        Request("route53:GetChange", "arn:aws:route53:::change/C1")
    ]
    assert requests_for("route53", "ListResourceRecordSets", {"HostedZoneId": "Z1"}, FakeLookup()) == [
        Request("route53:ListResourceRecordSets", zone)
    ]


def test_dynamodb_item_calls_and_queries_carry_their_leading_keys() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    lookup = FakeLookup()
    get = {"TableName": "t", "Key": {"pk": {"S": "SERVERS"}, "sk": {"S": "demo"}}}
    assert requests_for("dynamodb", "GetItem", get, lookup) == [
        Request("dynamodb:GetItem", table, {"dynamodb:LeadingKeys": ("SERVERS",)})
    ]
    put = {"TableName": "t", "Item": {"pk": {"S": "LOCK#demo"}, "sk": {"S": "LOCK"}}}
    assert requests_for("dynamodb", "PutItem", put, lookup)[0].context == {"dynamodb:LeadingKeys": ("LOCK#demo",)}
    query = {
        "TableName": "t",
        "KeyConditionExpression": "#p = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeNames": {"#p": "pk"},
        "ExpressionAttributeValues": {":pk": {"S": "SERVERS"}, ":prefix": {"S": "x"}},
    }
    assert requests_for("dynamodb", "Query", query, lookup)[0].context == {"dynamodb:LeadingKeys": ("SERVERS",)}
    with pytest.raises(UnmappedOperation, match="LeadingKeys"):
        requests_for("dynamodb", "Query", query | {"KeyConditionExpression": "sk = :pk"}, lookup)
    assert requests_for("dynamodb", "Scan", {"TableName": "t"}, lookup)[0].context == {}  # no partition key


def test_a_governance_bypass_is_its_own_authorization() -> None:
    delete = {"Bucket": "bucket", "Key": "dr-transfer/x", "VersionId": "v1", "BypassGovernanceRetention": True}
    assert requests_for("s3", "DeleteObject", delete, FakeLookup()) == [
        Request("s3:DeleteObjectVersion", f"{BUCKET_ARN}/dr-transfer/x"),
        Request("s3:BypassGovernanceRetention", f"{BUCKET_ARN}/dr-transfer/x"),
    ]
    many = {
        "Bucket": "bucket",
        "Delete": {"Objects": [{"Key": "k", "VersionId": "v"}]},
        "BypassGovernanceRetention": True,
    }
    assert [r.action for r in requests_for("s3", "DeleteObjects", many, FakeLookup())] == [
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    ]


@pytest.mark.parametrize(
    ("service", "operation"), [("s3", "PutBucketPolicy"), ("ec2", "CreateVpc"), ("ssm", "SendCommand")]
)
def test_a_call_without_a_mapping_fails_loudly(service: str, operation: str) -> None:
    params = {"Targets": [{"Key": "tag:x", "Values": ["y"]}]} if operation == "SendCommand" else {}
    with pytest.raises(UnmappedOperation, match=f"{service}.{operation}"):
        requests_for(service, operation, params, FakeLookup())


def enforcer() -> iam.Enforcer:
    policy = Policy.from_statements([allow("sns:Publish", "arn:aws:sns:us-east-1:123456789012:topic")])
    return iam.Enforcer({"ftops-local-Task": policy}, FakeLookup())


def test_a_denied_call_raises_what_aws_answers() -> None:
    with pytest.raises(ClientError) as denied:
        enforcer().check("ftops-local-Task", "s3", "PutObject", {"Bucket": "bucket", "Key": "k", "Body": b""})
    error = denied.value.response
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/ftops-local-Task-role/ftops-local-Task is not authorized to "
        f"perform: s3:PutObject on resource: {BUCKET_ARN}/k because no identity-based policy allows the "
        "s3:PutObject action"
    )
    with pytest.raises(ClientError) as head:
        enforcer().check("ftops-local-Task", "s3", "HeadObject", {"Bucket": "bucket", "Key": "k"})
    assert head.value.response["Error"]["Code"] == "403"  # a HEAD response has no body
    with pytest.raises(ClientError) as json_service:
        enforcer().check("ftops-local-Task", "dynamodb", "GetItem", {"TableName": "t", "Key": {}})
    assert json_service.value.response["Error"]["Code"] == "AccessDeniedException"
    enforcer().check("ftops-local-Task", "sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:topic"})


def test_a_function_without_a_modelled_policy_is_refused() -> None:
    with pytest.raises(LookupError, match="ftops-local-Other"):
        enforcer().check("ftops-local-Other", "sns", "Publish", {"TopicArn": "x"})


def test_threads_of_task_code_run_as_the_task_and_others_do_not() -> None:
    iam.install()
    seen: dict[str, str | None] = {}

    def task_code() -> None:
        seen["task"] = iam.current_task()

    def plane_code() -> None:
        seen["plane"] = iam.current_task()

    task_code.__module__ = "freshtrack_ops.backup.stream"
    with iam.running_task("ftops-local-BackupDump"):
        threads = [threading.Thread(target=task_code), threading.Thread(target=plane_code)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with iam.plane_calls():
            assert iam.current_task() is None  # the plane's own calls inside a task's context
    assert seen == {"task": "ftops-local-BackupDump", "plane": None}
    assert iam.current_task() is None


def test_a_presigned_url_is_checked_against_the_role_when_the_task_mints_it() -> None:
    """S3 authorizes a presigned request as the role that signed it: a URL the role could not use is refused
    when the task presigns it (it makes no call; S3 would answer 403 AccessDenied to the host)."""
    import boto3

    iam.install()
    policy = Policy.from_statements([allow("s3:GetObject", f"{BUCKET_ARN}/backups/*"), allow(["kms:Decrypt"], KEY_ARN)])
    s3 = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    previous, iam.STATE.enforcer = iam.STATE.enforcer, iam.Enforcer({"ftops-local-Task": policy}, FakeLookup())
    try:
        with iam.running_task("ftops-local-Task"):
            assert s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "backups/a"})
            with pytest.raises(ClientError, match=r"s3:PutObject on resource: arn:aws:s3:::bucket/backups/a "):
                s3.generate_presigned_url(
                    "upload_part", Params={"Bucket": "bucket", "Key": "backups/a", "UploadId": "u", "PartNumber": 1}
                )
        # outside a task (the plane, the tests) nothing is checked
        assert s3.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "backups/a"})
    finally:
        iam.STATE.enforcer = previous
        iam.STATE.denials.clear()


# -- the DR grants as CDK builds them, evaluated on the plane's mappings -----------------------------------------
def _dr_policy(*grants: str, object_lock: bool = False) -> Policy:
    """The policy ``grant_statements`` builds for these grants from one provisioning target ``demo`` (template
    ``lt``, instance role ``prof-role``, record demo.example.com A in zone Z1, app-config secret demo/app-config)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stacks.dr_grants import AwsLocation, DnsRecords, DrResources
    from stacks.function_factory import FunctionResources, grant_statements
    from stacks.storage_stack import StorageRefs

    location = AwsLocation("aws", "us-east-1", ACCOUNT)
    storage = StorageRefs(
        bucket_name="bucket", bucket_arn=BUCKET_ARN, table_name="t",
        table_arn=f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t", key_arn=KEY_ARN, bucket_arn_export="x",
    )  # fmt: skip
    dr = DrResources(
        location=location,
        launch_template_arns=(location.arn("ec2", f"launch-template/{TEMPLATES['lt']}"),),
        replacement_hosts=("demo",),
        instance_role_arns=(f"arn:aws:iam::{ACCOUNT}:role/prof-role",),
        ssm_replacements=True,
        dns_records=(DnsRecords("Z1", "A", ("demo.example.com",)),),
        app_config_secret_arns=(location.arn("secretsmanager", "secret:demo/app-config-??????"),),
    )
    resources = FunctionResources(
        storage=storage, targets_parameter_arn="p", topic_arn="t", ssh_key_secret_arns=(), document_arns=(
            f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/d",), ssm_instance_arns=(), object_lock=object_lock, dr=dr,
    )  # fmt: skip
    return Policy.from_statements(s.to_statement_json() for s in grant_statements(grants, resources))


def _denied(policy: Policy, service: str, operation: str, params: dict[str, Any]) -> tuple[Request, Decision] | None:
    return policy.denied(requests_for(service, operation, params, FakeLookup()))


def _launch(template: str = "lt", tags: dict[str, str] = DR_TAGS, volume: bool = True) -> dict[str, Any]:
    specs = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    if volume:
        specs.append({"ResourceType": "volume", "Tags": specs[0]["Tags"]})
    return {
        "LaunchTemplate": {"LaunchTemplateName": template},
        "MinCount": 1,
        "MaxCount": 1,
        "TagSpecifications": specs,
    }


def test_run_instances_only_from_the_configured_template_and_only_with_the_dr_tags() -> None:
    policy = _dr_policy("ec2-replacement")
    assert _denied(policy, "ec2", "RunInstances", _launch()) is None
    cases = {
        "another template": _launch(template="other"),
        "no dr-id tag": _launch(tags={k: v for k, v in DR_TAGS.items() if k != "freshtrack-ops:dr-id"}),
        "another tag key": _launch(tags=DR_TAGS | {"owner": "me"}),
        "a host that does not provision": _launch(tags=DR_TAGS | {"freshtrack-ops:host": "prod"}),
        "untagged volumes": _launch(volume=False),
    }
    for case, params in cases.items():
        denied = _denied(policy, "ec2", "RunInstances", params)
        assert denied is not None, case
        assert denied[0].action == "ec2:RunInstances" and denied[1] is Decision.IMPLICIT_DENY, case
    # without a template at all (an AMI of the caller's choice): no statement matches
    bare = {"ImageId": "ami-1", "MinCount": 1, "MaxCount": 1, "TagSpecifications": _launch()["TagSpecifications"]}
    assert _denied(policy, "ec2", "RunInstances", bare) is not None


def test_pass_role_only_of_the_configured_role_and_only_to_ec2() -> None:
    policy = _dr_policy("ec2-replacement")
    role = f"arn:aws:iam::{ACCOUNT}:role/prof-role"
    assert policy.decide(Request("iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})) is Decision.ALLOW
    assert policy.decide(Request("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})) is (
        Decision.IMPLICIT_DENY
    )
    other = Request(
        "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/other-prof-role", {"iam:PassedToService": "ec2.amazonaws.com"}
    )
    assert policy.decide(other) is Decision.IMPLICIT_DENY


def test_console_of_dr_instances_only_and_termination_of_drills_only() -> None:
    policy = _dr_policy("ec2-replacement")
    assert _denied(policy, "ec2", "GetConsoleOutput", {"InstanceId": "i-recover"}) is None
    assert _denied(policy, "ec2", "GetConsoleOutput", {"InstanceId": "i-primary"}) is not None
    assert _denied(policy, "ec2", "TerminateInstances", {"InstanceIds": ["i-drill"]}) is None
    # a recovery's server (kept for forensics, or promoted: the target's server now) and any other instance
    assert _denied(policy, "ec2", "TerminateInstances", {"InstanceIds": ["i-recover"]}) is not None
    assert _denied(policy, "ec2", "TerminateInstances", {"InstanceIds": ["i-drill", "i-primary"]}) is not None
    # tags only while launching: tagging an existing instance (CreateTags outside RunInstances) is refused
    existing = Request("ec2:CreateTags", f"{EC2}:instance/i-primary", {"aws:TagKeys": ("freshtrack-ops:dr-id",)})
    assert policy.decide(existing) is Decision.IMPLICIT_DENY


def _upsert(name: str, action: str = "UPSERT", record_type: str = "A", zone: str = "Z1") -> dict[str, Any]:
    change = {"Action": action, "ResourceRecordSet": {"Name": name, "Type": record_type}}
    return {"HostedZoneId": f"/hostedzone/{zone}", "ChangeBatch": {"Changes": [change]}}


def test_route53_upsert_of_the_configured_record_only() -> None:
    policy = _dr_policy("route53-record")
    assert _denied(policy, "route53", "ChangeResourceRecordSets", _upsert("Demo.Example.com.")) is None
    for case, params in {
        "another record": _upsert("mail.example.com"),
        "a DELETE": _upsert("demo.example.com", action="DELETE"),
        "a CREATE": _upsert("demo.example.com", action="CREATE"),
        "another type": _upsert("demo.example.com", record_type="TXT"),
        "another zone": _upsert("demo.example.com", zone="Z2"),
    }.items():
        assert _denied(policy, "route53", "ChangeResourceRecordSets", params) is not None, case
    # one foreign change in a batch denies the batch
    batch = _upsert("demo.example.com")
    batch["ChangeBatch"]["Changes"].append(
        {"Action": "DELETE", "ResourceRecordSet": {"Name": "x.example.com", "Type": "A"}}
    )
    assert _denied(policy, "route53", "ChangeResourceRecordSets", batch) is not None
    assert _denied(policy, "route53", "GetChange", {"Id": "/change/C1"}) is None


def test_targets_read_the_servers_partition_and_nothing_else() -> None:
    policy = _dr_policy("targets")
    get = {"TableName": "t", "Key": {"pk": {"S": "SERVERS"}, "sk": {"S": "demo"}}}
    assert _denied(policy, "dynamodb", "GetItem", get) is None
    query = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "SERVERS"}},
    }
    assert _denied(policy, "dynamodb", "Query", query) is None
    assert (
        _denied(policy, "dynamodb", "GetItem", get | {"Key": {"pk": {"S": "LOCK#demo"}, "sk": {"S": "x"}}}) is not None
    )
    assert _denied(policy, "dynamodb", "Scan", {"TableName": "t"}) is not None
    assert _denied(policy, "dynamodb", "PutItem", {"TableName": "t", "Item": get["Key"]}) is not None


def test_transfer_versions_are_deleted_with_the_bypass_only_under_object_lock() -> None:
    delete = {"Bucket": "bucket", "Key": "dr-transfer/t1", "VersionId": "v1"}
    bypass = delete | {"BypassGovernanceRetention": True}
    for grant in ("app-config-read", "app-config-write"):
        plain, locked = _dr_policy(grant), _dr_policy(grant, object_lock=True)
        assert _denied(plain, "s3", "DeleteObject", delete) is None
        assert _denied(plain, "s3", "DeleteObject", bypass) is not None
        assert _denied(locked, "s3", "DeleteObject", bypass) is None
        # a delete marker (no version) would keep the secret's bytes: not granted; nor anything under backups/
        assert _denied(locked, "s3", "DeleteObject", {"Bucket": "bucket", "Key": "dr-transfer/t1"}) is not None
        assert _denied(locked, "s3", "DeleteObject", bypass | {"Key": "backups/demo/x.dump"}) is not None


def test_secrets_read_by_bootstrap_written_by_capture() -> None:
    read, write = _dr_policy("app-config-read"), _dr_policy("app-config-write")
    secret = {"SecretId": "demo/app-config"}
    assert _denied(read, "secretsmanager", "GetSecretValue", secret) is None
    assert _denied(read, "secretsmanager", "PutSecretValue", secret | {"SecretString": "x"}) is not None
    assert _denied(write, "secretsmanager", "PutSecretValue", secret | {"SecretString": "x"}) is None
    assert _denied(write, "secretsmanager", "GetSecretValue", secret) is not None
    assert _denied(read, "secretsmanager", "GetSecretValue", {"SecretId": "demo/app-config-old"}) is not None


def test_host_commands_reach_instances_tagged_as_a_dr() -> None:
    policy = _dr_policy("ssm-commands")
    assert _denied(policy, "ssm", "SendCommand", {"DocumentName": "d", "InstanceIds": ["i-drill"]}) is None
    assert _denied(policy, "ssm", "SendCommand", {"DocumentName": "d", "InstanceIds": ["i-primary"]}) is not None
    assert _denied(policy, "ssm", "SendCommand", {"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-drill"]})
