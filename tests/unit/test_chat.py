"""Chat notifications, in process: the message (redacted, escaped, truncated), the secret's URL checks, the retry
policy on a fake webhook and a fake clock, and the handler on moto with the URL nowhere in its logs or errors."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.adapters import chat_webhook
from freshtrack_ops.chat.delivery import ChatUnreachable, deliver, retry_after_s
from freshtrack_ops.chat.message import MAX_TEXT_CHARS, chat_text, payload
from freshtrack_ops.chat.secret import WebhookUrl, webhook_url
from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.errors import ChatDeliveryFailed, ConfigError
from freshtrack_ops.handlers import chat
from freshtrack_ops.observability import logger
from opsctl.local.sns_delivery import sns_event

TOKEN_PATH = "/services/T0AAAAAAA/B0BBBBBBB/s3cr3tT0k3nXXXXXXXXXXXXX"
URL = f"https://hooks.slack.com{TOKEN_PATH}"
PRESIGNED = (
    "https://freshtrack-ops-backups.s3.eu-west-1.amazonaws.com/reports/prod/daily/2025-01-02.html"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20250102%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20250102T070000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-Signature=0123456789abcdef"
)
FAST = ChatSettings(enabled=True, max_attempts=3, backoff_s=1.0, max_retry_after_s=10.0)


# -- the message ----------------------------------------------------------------------------------------------
def test_subject_bold_then_the_message() -> None:
    assert (
        chat_text("backup of prod succeeded", "size 1.2 GB\nverified")
        == "*backup of prod succeeded*\nsize 1.2 GB\nverified"
    )
    assert chat_text(None, "no subject") == "no subject"
    assert json.loads(payload("s", "m")) == {"text": "*s*\nm"}


def test_the_reports_presigned_link_loses_its_credentials_but_names_the_object() -> None:
    text = chat_text("daily check of prod: warning", f"Full report: {PRESIGNED}\ndisk 78 %")
    assert "X-Amz-Signature" not in text and "X-Amz-Credential" not in text and "Security-Token" not in text
    assert "0123456789abcdef" not in text and "ASIAEXAMPLE" not in text
    assert "reports/prod/daily/2025-01-02.html?&lt;redacted&gt;" in text


def test_mentions_links_and_entities_are_escaped() -> None:
    text = chat_text("a <!channel> subject", "log: <!here> <https://evil.example|click> a & b")
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&lt;!here&gt;" in text and "a &amp; b" in text


def test_a_long_message_is_cut_under_the_limit_saying_how_much_was_left_out() -> None:
    text = chat_text("big", "x" * 50_000)
    assert len(text) <= MAX_TEXT_CHARS
    assert text.endswith("more characters; the full message went to the notification topic's e-mail)")
    left_out = int(text.rsplit("(", 1)[1].split()[0])
    assert left_out == len("*big*\n") + 50_000 - len(text.split("\n…")[0])


def test_the_cut_never_splits_an_escaped_character() -> None:
    for n in range(20):
        text = chat_text(None, "a" * (MAX_TEXT_CHARS - 90 + n) + "&" * 200)
        kept = text.split("\n…")[0]
        assert kept.endswith(("a", "&amp;")), kept[-8:]


def test_a_cloudwatch_alarm_reads_as_lines() -> None:
    alarm = {
        "AlarmName": "chat-dead-letters",
        "AlarmDescription": "Notifications the chat webhook did not take",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0).",
        "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible"},
    }
    text = chat_text('ALARM: "chat-dead-letters" in EU (Ireland)', json.dumps(alarm))
    assert text.split("\n")[1:] == [
        "ALARM: chat-dead-letters",
        "Notifications the chat webhook did not take",
        "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0).",
    ]
    assert chat_text(None, '{"not": "an alarm"}') == '{"not": "an alarm"}'


# -- the secret's URL -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [json.dumps({"url": URL}), URL, f"  {URL}\n", json.dumps({"url": URL, "x": 1})])
def test_the_secret_holds_the_url_as_json_or_alone(value: str) -> None:
    url = webhook_url(value, FAST)
    assert (url.scheme, url.host, url.port, url.target) == ("https", "hooks.slack.com", None, TOKEN_PATH)
    assert TOKEN_PATH not in repr(url)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (json.dumps({"url": "", "placeholder": "Abc123"}), "holds no URL (still the stack's placeholder?"),
        ("not json {", "holds no URL"),
        ("{not json", "not valid JSON"),
        (json.dumps({"link": URL}), 'no string field "url"'),
        (URL.replace("https:", "http:"), "must use https (got 'http')"),
        (URL.replace("hooks.slack.com", "hooks.evil.example"), "not in chat.allowed_hosts (got 'hooks.evil.example')"),
        (URL.replace("https://", "https://user:pw@"), "must not carry user information"),
        ("https://hooks.slack.com/", "path is missing"),
        (URL + "#frag", "#fragment"),
        ("https://hooks.slack.com:99999/x", "does not parse"),
    ],
)
def test_a_bad_secret_is_refused_without_quoting_it(value: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        webhook_url(value, FAST)
    assert says in str(refused.value)
    assert "s3cr3t" not in str(refused.value) and "pw" not in str(refused.value).replace("path", "")


def test_plain_http_only_to_the_loopback_address_and_only_when_allowed() -> None:
    local = ChatSettings(enabled=True, allowed_hosts=("127.0.0.1",))
    assert webhook_url("http://127.0.0.1:8080/services/x", local).port == 8080
    with pytest.raises(ConfigError, match="allowed_hosts"):
        webhook_url("http://127.0.0.1:8080/services/x", FAST)


def test_settings_refuse_retries_that_outlast_the_function() -> None:
    with pytest.raises(ValidationError, match="more than the 50 s ChatNotify has"):
        ChatSettings(max_attempts=6, timeout_s=10)
    assert ChatSettings().worst_case_s() <= 50


# -- the retry policy -----------------------------------------------------------------------------------------
class FakeWebhook:
    def __init__(self, *answers: tuple[int, str | None] | Exception) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []

    def post(self, body: bytes) -> tuple[int, str | None]:
        self.bodies.append(body)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _deliver(webhook: FakeWebhook, settings: ChatSettings = FAST) -> tuple[int, list[float]]:
    pauses: list[float] = []
    return deliver(webhook, b"{}", settings, sleep=pauses.append), pauses


def test_5xx_and_no_answer_are_retried_with_a_doubling_back_off() -> None:
    webhook = FakeWebhook((500, None), ChatUnreachable("timed out after 5 s"), (200, None))
    assert _deliver(webhook) == (3, [1.0, 2.0])
    assert len(webhook.bodies) == 3


def test_429_waits_as_long_as_retry_after_says_up_to_the_cap() -> None:
    assert _deliver(FakeWebhook((429, "3"), (200, None))) == (2, [3.0])
    assert _deliver(FakeWebhook((429, "3600"), (200, None))) == (2, [10.0])
    # no header, or an HTTP-date: the back-off
    assert _deliver(FakeWebhook((429, None), (429, "Wed, 21 Oct 2015 07:28:00 GMT"), (200, None))) == (3, [1.0, 2.0])


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), (" 1.5 ", 1.5), ("-1", None), ("nan", None), ("", None)])
def test_retry_after_in_seconds_only(header: str, seconds: float | None) -> None:
    assert retry_after_s(header) == seconds


@pytest.mark.parametrize("status", [400, 403, 404, 410, 302])
def test_another_4xx_or_a_redirect_fails_at_once(status: int) -> None:
    webhook = FakeWebhook((status, None), (200, None))
    with pytest.raises(ChatDeliveryFailed, match=f"chat webhook: HTTP {status} \\(not retried"):
        _deliver(webhook)
    assert len(webhook.bodies) == 1


def test_giving_up_names_the_last_answer_and_the_attempts() -> None:
    with pytest.raises(ChatDeliveryFailed) as failed:
        _deliver(FakeWebhook((500, None), (502, None), (500, None)))
    assert str(failed.value) == "chat webhook: HTTP 500 after 3 attempts"
    with pytest.raises(ChatDeliveryFailed, match=r"no answer \(Connection refused\) after 1 attempts"):
        _deliver(FakeWebhook(ChatUnreachable("Connection refused")), FAST.model_copy(update={"max_attempts": 1}))


def test_the_adapters_connections_are_never_traced_by_xray() -> None:
    """The X-Ray SDK's http.client patch records each request's URL path (the credential): the webhook's host is on
    its ignore list once an adapter for it exists."""
    from aws_xray_sdk.ext.httplib.patch import _ignore_request  # the SDK's own check, as its patch calls it

    hook = chat_webhook.HttpChatWebhook(WebhookUrl("https", "hooks.slack.com", None, TOKEN_PATH), timeout_s=1)
    connection = hook._connection()
    assert _ignore_request(connection, "hooks.slack.com", TOKEN_PATH)
    local = chat_webhook.HttpChatWebhook(WebhookUrl("http", "127.0.0.1", 9, TOKEN_PATH), timeout_s=1)._connection()
    assert _ignore_request(local, "127.0.0.1", TOKEN_PATH)


# -- the handler ----------------------------------------------------------------------------------------------
class Context:
    function_name = "ChatNotify"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ChatNotify"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture(scope="module")
def secret_arn() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
        }.items():  # fmt: skip
            env.setenv(name, value)
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="freshtrack-ops/test/chat/webhook", SecretString=json.dumps({"url": URL})
        )["ARN"]
        runtime.reset()
        runtime.configure(
            runtime.Settings(
                backup_bucket="bucket", ops_table="table", targets_parameter="/ops/targets",
                chat_secret_id=arn, chat_settings=FAST.model_copy(update={"backoff_s": 0}).model_dump_json(),
            )
        )  # fmt: skip
        level = logger.log_level
        logger.setLevel("DEBUG")
        try:
            yield arn
        finally:
            logger.setLevel(level)
            runtime.configure(None)
            runtime.reset()


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the functions' logger writes, as it writes it (its own formatter; Powertools' logger does not propagate,
    and its stream is pytest's capture object from import time)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield buffer
    finally:
        logging.getLogger(logger.name).removeHandler(handler)


def _event(subject: str | None, message: str) -> dict[str, Any]:
    topic = "arn:aws:sns:us-east-1:123456789012:ops"
    return sns_event(topic_arn=topic, subscription_arn=f"{topic}:0b1c", message=message, subject=subject)


def test_the_handler_posts_each_message_once(secret_arn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[tuple[WebhookUrl, bytes]] = []

    class Recording(FakeWebhook):
        def __init__(self, url: WebhookUrl, *, timeout_s: float) -> None:
            super().__init__((503, None), (200, None))
            self.url = url

        def post(self, body: bytes) -> tuple[int, str | None]:
            posted.append((self.url, body))
            return super().post(body)

    monkeypatch.setattr(chat, "HttpChatWebhook", Recording)
    event = _event("restore of prod FAILED", f"see {PRESIGNED}")
    answer = chat.handler(event, Context())
    assert answer == {"delivered": [event["Records"][0]["Sns"]["MessageId"]]}
    assert [url.target for url, _ in posted] == [TOKEN_PATH, TOKEN_PATH]
    text = json.loads(posted[-1][1])["text"]
    assert text.startswith("*restore of prod FAILED*\nsee https://") and "X-Amz-Signature" not in text


def test_a_failed_delivery_raises_and_logs_without_the_url(
    secret_arn: str, monkeypatch: pytest.MonkeyPatch, logged: io.StringIO
) -> None:
    monkeypatch.setattr(
        chat, "HttpChatWebhook", lambda url, *, timeout_s: FakeWebhook((500, None), (500, None), (500, None))
    )
    with pytest.raises(ChatDeliveryFailed) as failed:
        chat.handler(_event("backup of prod succeeded", "ok"), Context())
    assert str(failed.value) == "chat webhook: HTTP 500 after 3 attempts"
    logs = logged.getvalue()
    assert "chat message not delivered" in logs  # the log was captured...
    assert "s3cr3t" not in logs and TOKEN_PATH not in logs and "hooks.slack.com/services" not in logs  # ...without it
    assert "s3cr3t" not in repr(failed.value.__cause__) and failed.value.__context__ is None


def test_a_refused_secret_raises_config_error_naming_no_url(
    secret_arn: str, monkeypatch: pytest.MonkeyPatch, logged: io.StringIO
) -> None:
    monkeypatch.setattr(chat, "chat_settings", lambda: ChatSettings(enabled=True, allowed_hosts=("chat.example.org",)))
    with pytest.raises(ConfigError) as refused:
        chat.handler(_event("s", "m"), Context())
    assert "'hooks.slack.com'" in str(refused.value) and "s3cr3t" not in str(refused.value)
    assert "s3cr3t" not in logged.getvalue()
