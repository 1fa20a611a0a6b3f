"""The injected AWS faults reach botocore as AWS's errors do: retried where the SDK retries them, final where not."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sns.models import sns_backends

from opsctl.local import faults

REGION = "us-east-1"


@pytest.fixture
def aws() -> object:
    with mock_aws():
        yield None


def test_throttled_dynamodb_calls_are_retried_by_the_sdk_and_then_succeed(aws: object) -> None:
    db = boto3.client("dynamodb", region_name=REGION)
    db.create_table(
        TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    throttle = faults.ApiFault("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=2)
    with faults.armed(throttle):
        db.put_item(TableName="t", Item={"pk": {"S": "a"}})
    assert throttle.hits == 2
    assert db.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["pk"]["S"] == "a"


def test_a_conditional_check_failure_is_not_retried(aws: object) -> None:
    db = boto3.client("dynamodb", region_name=REGION)
    race = faults.ApiFault("dynamodb", "PutItem", "ConditionalCheckFailedException", times=None)
    with faults.armed(race), pytest.raises(ClientError) as refused:
        db.put_item(TableName="missing-is-never-reached", Item={"pk": {"S": "a"}})
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert race.hits == 1


def test_s3_slowdown_past_the_retries_fails_with_slowdown_and_stores_nothing(aws: object) -> None:
    s3 = boto3.client("s3", region_name=REGION, config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    s3.create_bucket(Bucket="backups")
    slow = faults.ApiFault("s3", "PutObject", "SlowDown", times=None)
    with faults.armed(slow), pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="backups", Key="k", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "SlowDown"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert slow.hits == 3
    assert s3.list_objects_v2(Bucket="backups").get("KeyCount") == 0


def test_a_fault_after_the_call_lets_it_take_effect_and_loses_the_answer(aws: object) -> None:
    sns = boto3.client("sns", region_name=REGION, config=Config(retries={"mode": "standard", "total_max_attempts": 2}))
    topic = sns.create_topic(Name="t")["TopicArn"]
    lost = faults.ApiFault("sns", "Publish", "InternalError", when="after", times=None)
    with faults.armed(lost), pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message="m")
    assert refused.value.response["Error"]["Code"] == "InternalError"
    # each attempt was delivered, and the SDK retried the 500 once: the subscriber got the message twice
    assert lost.hits == 2
    assert len(sns_backends["123456789012"][REGION].topics[topic].sent_notifications) == 2


def test_a_fault_for_a_service_without_a_known_error_format_is_refused() -> None:
    with pytest.raises(ValueError, match="service: no error format known for it"):
        faults.ApiFault("glacier", "UploadArchive", "InternalError")
