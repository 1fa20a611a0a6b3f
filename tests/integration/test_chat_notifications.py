"""Chat notifications end to end on the local plane: a real workflow's notification is published to the topic, SNS
delivers it to ChatNotify (asynchronously, the SNS event), which posts it to the plane's Slack-compatible receiver
on 127.0.0.1; the receiver failing makes ChatNotify retry, and failing on makes it give up into the dead letters,
with the URL (the credential) nowhere in what is logged, recorded or dead-lettered."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from freshtrack_ops.observability import logger
from opsctl.local.plane import LocalPlane

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    # one host, reached without sshd (the backups run on the local transport); chat on
    with LocalPlane(hosts=("demo",), ssm_hosts=(), readings=100, use_sshd=False, chat=True) as local_plane:
        yield local_plane


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Everything the functions log (at DEBUG), through their own formatter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        logger.setLevel(level)
        logging.getLogger(logger.name).removeHandler(handler)


def _wait_for(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("chat: nothing arrived")
        time.sleep(0.02)


def test_a_backups_notification_reaches_the_chat(plane: LocalPlane, logged: io.StringIO) -> None:
    plane.chat_receiver.clear()
    ex = plane.run("backup", {"host": "demo", "reason": "chat test"})
    assert ex.status == "SUCCEEDED", ex.cause
    plane.wait_idle()
    published = [n for n in plane.notifications() if n["Subject"] == "FreshTrack backup succeeded"]
    assert published
    texts = [m["text"] for m in plane.chat_messages]
    assert texts == [f"*{published[-1]['Subject']}*\n{published[-1]['Message']}"]  # the e-mail's words, once
    secret_path = plane.chat_receiver.path
    assert secret_path not in logged.getvalue()
    assert "chat message delivered" in logged.getvalue()
    assert secret_path not in json.dumps(plane.history(ex.arn), default=str)


def test_the_receiver_failing_twice_is_retried_and_the_message_arrives_once(plane: LocalPlane) -> None:
    plane.chat_receiver.clear()
    plane.chat_receiver.fail_next(500, 2)
    ex = plane.run("backup", {"host": "no-such-host"})  # rejected at validation: its notification says why
    assert ex.status == "FAILED"
    _wait_for(lambda: plane.chat_messages)
    plane.wait_idle()
    assert plane.chat_receiver.answers == [500, 500, 200]
    (message,) = plane.chat_messages
    assert "no-such-host" in message["text"]
    assert not plane.chat_dead_letters


def test_429_with_retry_after_is_honoured(plane: LocalPlane) -> None:
    plane.chat_receiver.clear()
    plane.chat_receiver.fail_next(429, 1, retry_after="0.1")
    started = time.monotonic()
    plane.client("sns").publish(TopicArn=plane.topic_arn, Subject="rate limited", Message="once")
    _wait_for(lambda: plane.chat_messages)
    assert time.monotonic() - started >= 0.1
    assert plane.chat_receiver.answers == [429, 200]


def test_a_receiver_that_keeps_failing_leaves_the_message_in_the_dead_letters_without_the_url(
    plane: LocalPlane, logged: io.StringIO
) -> None:
    plane.chat_receiver.clear()
    plane.chat_receiver.fail_next(500, 100)
    plane.client("sns").publish(TopicArn=plane.topic_arn, Subject="never arrives", Message="kept")
    _wait_for(lambda: plane.chat_dead_letters)
    plane.wait_idle()
    plane.chat_receiver.clear()
    (dead,) = plane.chat_dead_letters
    # one invocation's three attempts, then Lambda's two retries of it
    assert dead.error["errorType"] == "ChatDeliveryFailed"
    assert dead.error["errorMessage"] == "chat webhook: HTTP 500 after 3 attempts"
    assert dead.event["Records"][0]["Sns"]["Subject"] == "never arrives"
    secret_path = plane.chat_receiver.path
    assert secret_path not in json.dumps(dead.error) and secret_path not in json.dumps(dead.event)
    assert "chat message not delivered" in logged.getvalue() and secret_path not in logged.getvalue()
    assert not plane.chat_messages
