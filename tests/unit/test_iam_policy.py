"""The local plane's IAM: policy evaluation, the call -> authorization table, AWS's denial, task threads."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import botocore.client  # noqa: F401 - imported at collection: urllib3 probes IPv6 with a socket on import
import pytest
from botocore.exceptions import ClientError

from opsctl.local import iam
from opsctl.local.iam_actions import UnmappedOperation, requests_for
from opsctl.local.iam_policy import Decision, Policy, Request, UnsupportedPolicy

BUCKET_ARN = "arn:aws:s3:::bucket"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/k1"


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
        data = {"ImageId": "ami-1", "KeyName": "kp", "IamInstanceProfile": {"Name": "prof"}}
        return "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-1", data

    def instance_profile_role(self, profile: Mapping[str, Any]) -> str | None:
        return f"arn:aws:iam::123456789012:role/{profile['Name']}-role"


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
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "execution", "Value": "e1"}]}],
    }
    requests = requests_for("ec2", "RunInstances", params, FakeLookup())
    tag = {"aws:RequestTag/execution": "e1"}
    assert requests[0] == Request(
        "ec2:RunInstances", f"{EC2}:instance/*", tag | {"ec2:LaunchTemplate": f"{EC2}:launch-template/lt-1"}
    )
    assert {r.resource for r in requests if r.action == "ec2:RunInstances"} == {
        f"{EC2}:instance/*",
        f"{EC2}:network-interface/*",
        f"{EC2}:security-group/*",
        f"{EC2}:subnet/*",
        f"{EC2}:volume/*",
        "arn:aws:ec2:us-east-1::image/ami-1",
        f"{EC2}:launch-template/lt-1",
        f"{EC2}:key-pair/kp",
    }
    assert Request("ec2:CreateTags", f"{EC2}:instance/*", tag | {"ec2:CreateAction": "RunInstances"}) in requests
    assert requests[-1] == Request("iam:PassRole", "arn:aws:iam::123456789012:role/prof-role")


def test_instance_calls_name_each_instance() -> None:
    lookup = FakeLookup()
    assert requests_for("ec2", "TerminateInstances", {"InstanceIds": ["i-1", "i-2"]}, lookup) == [
        Request("ec2:TerminateInstances", f"{EC2}:instance/i-1"),
        Request("ec2:TerminateInstances", f"{EC2}:instance/i-2"),
    ]
    assert requests_for("ec2", "GetConsoleOutput", {"InstanceId": "i-1"}, lookup) == [
        Request("ec2:GetConsoleOutput", f"{EC2}:instance/i-1")
    ]
    assert requests_for("ec2", "DescribeInstances", {"InstanceIds": ["i-1"]}, lookup) == [
        Request("ec2:DescribeInstances", "*")
    ]


def test_route53_changes_are_authorized_per_change_with_normalized_names() -> None:
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
                f"{prefix}NormalizedRecordNames": "demo.freshtrack.local",
                f"{prefix}RecordTypes": "A",
                f"{prefix}Actions": "UPSERT",
            },
        ),
        Request(
            prefix,
            zone,
            {
                f"{prefix}NormalizedRecordNames": "\\052.x.local",
                f"{prefix}RecordTypes": "TXT",
                f"{prefix}Actions": "DELETE",
            },
        ),
    ]
    assert requests_for("route53", "GetChange", {"Id": "/change/C1"}, FakeLookup()) == [
        Request("route53:GetChange", "arn:aws:route53:::change/C1")
    ]
    assert requests_for("route53", "ListResourceRecordSets", {"HostedZoneId": "Z1"}, FakeLookup()) == [
        Request("route53:ListResourceRecordSets", zone)
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
