"""``Notifier`` on SNS (the deployment's notification topic; e-mail subscriptions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

#: SNS limits an e-mail subject to 100 characters
MAX_SUBJECT_CHARS = 100


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> None:
        self._client.publish(TopicArn=self._topic_arn, Subject=subject[:MAX_SUBJECT_CHARS], Message=message)
