"""What the serverless rules ask for, asserted on the templates: every asynchronous consumer dead-letters what it
cannot handle, and an alarm says so. Where a rule is suppressed (it cannot see the configuration), the property
it stands for is checked here instead."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.control_plane_stack import (
    CHAT_TASK,
    COMMAND_DONE_TASK,
    COMMAND_EVENT_MAX_AGE,
    COMMAND_EVENT_RETRIES,
    JANITOR_EVENT_MAX_AGE,
    JANITOR_EVENT_RETRIES,
    JANITOR_TASK,
)

from .conftest import Synth, statements, task_functions

pytestmark = pytest.mark.infra

#: EventBridge source of each rule -> (task it invokes, retries, maximum event age in seconds)
CONSUMERS = {
    "aws.states": (JANITOR_TASK, JANITOR_EVENT_RETRIES, int(JANITOR_EVENT_MAX_AGE.to_seconds())),
    "aws.ssm": (COMMAND_DONE_TASK, COMMAND_EVENT_RETRIES, int(COMMAND_EVENT_MAX_AGE.to_seconds())),
}
ASYNC_PRINCIPALS = {"events.amazonaws.com", "sns.amazonaws.com", "s3.amazonaws.com", "iot.amazonaws.com"}


def _rule(synth: Synth, source: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        r["Properties"]
        for r in synth.resources("control", "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == [source]
    ]
    (rule,) = rules
    return rule


def _queue_alarm(synth: Synth, queue_id: str) -> dict[str, Any]:
    alarms: list[dict[str, Any]] = [
        a["Properties"]
        for a in synth.resources("control", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    (alarm,) = alarms
    return alarm


def _topic_id(synth: Synth) -> str:
    return next(iter(synth.resources("control", "AWS::SNS::Topic")))


@pytest.mark.parametrize("source", sorted(CONSUMERS))
def test_event_rule_target_retries_then_dead_letters(synth: Synth, source: str) -> None:
    task, retries, max_age = CONSUMERS[source]
    (target,) = _rule(synth, source)["Targets"]
    function_id, _ = task_functions(synth)[task]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": max_age}
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert synth.control["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize("source", sorted(CONSUMERS))
def test_function_retries_async_invocations_then_dead_letters_to_the_same_queue(synth: Synth, source: str) -> None:
    task, retries, max_age = CONSUMERS[source]
    (target,) = _rule(synth, source)["Targets"]
    function_id, _ = task_functions(synth)[task]
    (config,) = [
        c["Properties"]
        for c in synth.resources("control", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert config["Qualifier"] == "$LATEST"
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (retries, max_age)
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": target["DeadLetterConfig"]["Arn"]}}


@pytest.mark.parametrize("source", sorted(CONSUMERS))
def test_each_dead_letter_queue_is_private_encrypted_and_alarms_the_topic(synth: Synth, source: str) -> None:
    (target,) = _rule(synth, source)["Targets"]
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    queue = synth.control["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = [
        p
        for p in synth.resources("control", "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    allowed = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"]) for s in allowed] == [
        ({"Service": "events.amazonaws.com"}, "sqs:SendMessage")
    ]
    assert allowed[0]["Condition"]["ArnEquals"]["aws:SourceArn"]  # only this rule
    alarm = _queue_alarm(synth, queue_id)
    assert alarm["Threshold"] == 0 and alarm["AlarmActions"] == [{"Ref": _topic_id(synth)}]


def test_the_two_consumers_have_separate_queues(synth: Synth) -> None:
    queues = {json.dumps(_rule(synth, source)["Targets"][0]["DeadLetterConfig"]) for source in CONSUMERS}
    assert len(queues) == len(CONSUMERS)


def test_every_asynchronously_invoked_function_has_an_on_failure_destination(synth: Synth) -> None:
    """ES1007's intent (it is suppressed on the permissions: it compares Fn::GetAtt Arn with Ref as text)."""
    resources = synth.control["Resources"]
    configured = {
        c["Properties"]["FunctionName"]["Ref"]
        for c in synth.resources("control", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    }
    invoked = {
        p["Properties"]["FunctionName"]["Fn::GetAtt"][0]
        for p in synth.resources("control", "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] in ASYNC_PRINCIPALS
    }
    # ChatNotify: when chat is enabled (the example config), the topic invokes it (tests/infra/test_infra_chat.py)
    assert invoked == {task_functions(synth)[t][0] for t in (JANITOR_TASK, COMMAND_DONE_TASK, CHAT_TASK)}
    assert invoked <= configured
    assert all(resources[f]["Type"] == "AWS::Lambda::Function" for f in invoked)


def test_every_function_logs_to_its_own_group_with_retention(synth: Synth) -> None:
    """WS1004's intent (it is suppressed: it only knows /aws/lambda/<name> groups, not LoggingConfig)."""
    resources = synth.control["Resources"]
    groups = set()
    for task, (_, props) in task_functions(synth).items():
        group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
        group = resources[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"] == 90, task
        groups.add(group_id)
    assert len(groups) == len(task_functions(synth))


def test_every_queue_is_a_dead_letter_queue_of_something(synth: Synth) -> None:
    """ES6000's intent (suppressed on dead-letter queues): no working queue without a redrive policy."""
    text = json.dumps(
        {
            k: r
            for k, r in synth.control["Resources"].items()
            if r["Type"] in ("AWS::Events::Rule", "AWS::Lambda::EventInvokeConfig", "AWS::SNS::Subscription")
        }
    )
    for queue_id in synth.resources("control", "AWS::SQS::Queue"):
        assert json.dumps({"Fn::GetAtt": [queue_id, "Arn"]}) in text, queue_id


def test_notification_subscriptions_keep_what_sns_could_not_deliver(synth: Synth) -> None:
    """ES7000: each e-mail subscription has a redrive policy to a queue SNS may send to, which alarms (ChatNotify's
    lambda subscription has its own queue: tests/infra/test_infra_chat.py)."""
    found = [s["Properties"] for s in synth.resources("control", "AWS::SNS::Subscription").values()]
    assert {s["Protocol"] for s in found} <= {"email", "lambda"}
    subscriptions = [s for s in found if s["Protocol"] == "email"]
    assert subscriptions
    (queue_ref,) = {json.dumps(s["RedrivePolicy"]) for s in subscriptions}
    queue_id = json.loads(queue_ref)["deadLetterTargetArn"]["Fn::GetAtt"][0]
    (policy,) = [
        p
        for p in synth.resources("control", "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    allowed = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"]) for s in allowed] == [({"Service": "sns.amazonaws.com"}, "sqs:SendMessage")]
    assert allowed[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": _topic_id(synth)}}}
    assert synth.control["Resources"][queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    assert _queue_alarm(synth, queue_id)["AlarmActions"] == [{"Ref": _topic_id(synth)}]
