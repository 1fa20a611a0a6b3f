"""Chat notifications in the control plane (stacks/chat.py), read from the shared synth of config/example.yaml
(``chat.enabled: true``): the secret, ChatNotify's subscription to the topic, its dead letters, its one grant.
Properties, not snapshots. Chat switched off: tests/infra/test_infra_webhook.py (the optional features' synth)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.tasks import TASKS
from stacks.chat import CHAT_EVENT_MAX_AGE, CHAT_EVENT_RETRIES, PLACEHOLDER
from stacks.chat_names import SECRET_ENV, SETTINGS_ENV, chat_secret_name
from stacks.control_plane_stack import CHAT_TASK

from .conftest import Synth, actions_of, resources_of, role_statements, statements, task_functions

pytestmark = pytest.mark.infra


def _chat_secret(synth: Synth) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, r["Properties"])
        for logical_id, r in synth.resources("control", "AWS::SecretsManager::Secret").items()
        if r["Properties"]["Name"] == chat_secret_name(synth.config.name)
    ]
    return found


def _subscription(synth: Synth) -> dict[str, Any]:
    function_id, _ = task_functions(synth)[CHAT_TASK]
    (found,) = [
        r["Properties"]
        for r in synth.resources("control", "AWS::SNS::Subscription").values()
        if r["Properties"]["Protocol"] == "lambda"
    ]
    assert found["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
    subscription: dict[str, Any] = found
    return subscription


def test_the_example_enables_chat() -> None:
    assert TASKS[CHAT_TASK].grants == frozenset({"chat-secret"})


def test_the_secret_is_the_stacks_with_a_placeholder_encrypted_with_the_data_key(synth: Synth) -> None:
    _, secret = _chat_secret(synth)
    generated = secret["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == PLACEHOLDER
    assert generated["GenerateStringKey"] not in PLACEHOLDER  # the placeholder never fills "url"
    assert "SecretString" not in secret  # no value in the template
    assert "KmsKeyId" in secret
    assert synth.control["Outputs"]["ChatSecretName"]["Value"] == chat_secret_name(synth.config.name)


def test_chat_notify_is_subscribed_to_the_notification_topic_with_a_dead_letter_queue(synth: Synth) -> None:
    subscription = _subscription(synth)
    topic_id = next(iter(synth.resources("control", "AWS::SNS::Topic")))
    assert subscription["TopicArn"] == {"Ref": topic_id}
    queue_id = subscription["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synth.control["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
    # only this topic may invoke it
    function_id, _ = task_functions(synth)[CHAT_TASK]
    (permission,) = [
        p["Properties"]
        for p in synth.resources("control", "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["Principal"] == "sns.amazonaws.com" and permission["SourceArn"] == {"Ref": topic_id}


def test_failed_invocations_retry_then_land_in_the_same_queue_which_alarms_the_topic(synth: Synth) -> None:
    queue_arn = _subscription(synth)["RedrivePolicy"]["deadLetterTargetArn"]
    function_id, _ = task_functions(synth)[CHAT_TASK]
    (config,) = [
        c["Properties"]
        for c in synth.resources("control", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (
        CHAT_EVENT_RETRIES,
        int(CHAT_EVENT_MAX_AGE.to_seconds()),
    )
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}
    queue_id = queue_arn["Fn::GetAtt"][0]
    queue = synth.control["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    (policy,) = [
        p
        for p in synth.resources("control", "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    allowed = [s for s in statements(policy) if s["Effect"] == "Allow"]
    # SNS may dead-letter into it, only from the topic (the on-failure destination is the function's role's)
    assert [(s["Principal"], s["Action"]) for s in allowed] == [({"Service": "sns.amazonaws.com"}, "sqs:SendMessage")]
    topic_id = next(iter(synth.resources("control", "AWS::SNS::Topic")))
    assert allowed[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": topic_id}
    (alarm,) = [
        a["Properties"]
        for a in synth.resources("control", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    assert alarm["Threshold"] == 0 and alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_chat_notify_reads_that_one_secret_and_sends_to_that_one_queue(synth: Synth) -> None:
    secret_id, _ = _chat_secret(synth)
    found = role_statements(synth, CHAT_TASK)
    readers = [s for s in found if "secretsmanager:GetSecretValue" in actions_of(s)]
    assert [resources_of(s) for s in readers] == [[{"Ref": secret_id}]]
    assert {a for s in found for a in actions_of(s)} <= {
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        # the on-failure destination (CDK's grantSendMessages on the dead-letter queue)
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    # no other task reads it
    others = {
        task
        for task in TASKS
        if task != CHAT_TASK and any({"Ref": secret_id} in resources_of(s) for s in role_statements(synth, task))
    }
    assert not others


def test_chat_notify_gets_the_secret_id_and_the_settings_never_a_url(synth: Synth) -> None:
    secret_id, _ = _chat_secret(synth)
    env = task_functions(synth)[CHAT_TASK][1]["Environment"]["Variables"]
    assert env[SECRET_ENV] == {"Ref": secret_id}
    assert ChatSettings.model_validate_json(env[SETTINGS_ENV]) == synth.config.chat
    assert "hooks.slack.com/services" not in json.dumps(synth.control)
