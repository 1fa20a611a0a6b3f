"""ChatNotify: the notification topic's Lambda subscriber; forwards each message to the chat webhook.

SNS invokes it asynchronously with one record (docs: "Invoking Lambda functions with Amazon SNS notifications").
A message the webhook would not take raises ``ChatDeliveryFailed`` after ``chat.max_attempts`` requests: Lambda's
asynchronous retries, then the dead-letter queue (stacks/chat.py), keep it. Nothing logged, raised, traced or
measured here names the webhook URL: it is read from the secret (Powertools Parameters, cached
``SECRET_MAX_AGE_S``) into a ``WebhookUrl`` whose repr hides it, and errors name the answer only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import SnsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.adapters.chat_webhook import HttpChatWebhook
from freshtrack_ops.chat.delivery import deliver
from freshtrack_ops.chat.message import payload
from freshtrack_ops.chat.secret import webhook_url
from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.errors import ChatDeliveryFailed, ConfigError
from freshtrack_ops.observability import logger, metrics, tracer


def chat_settings() -> ChatSettings:
    raw = runtime.settings().chat_settings
    return ChatSettings.model_validate_json(raw) if raw else ChatSettings()


def _secret_value(secret_id: str) -> str:
    if not secret_id:
        raise ConfigError("chat: the chat secret is not configured (CHAT_SECRET_ID)")
    return str(runtime.secret(secret_id))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=SnsModel)
def handler(event: SnsModel, context: LambdaContext) -> dict[str, Any]:
    settings = chat_settings()
    url = webhook_url(_secret_value(runtime.settings().chat_secret_id), settings)
    webhook = HttpChatWebhook(url, timeout_s=settings.timeout_s)
    delivered: list[str] = []
    for record in event.Records:
        sns = record.Sns
        message = sns.Message if isinstance(sns.Message, str) else str(sns.Message)
        try:
            attempts = deliver(webhook, payload(sns.Subject, message), settings)
        except ChatDeliveryFailed:
            metrics.add_metric(name="ChatDeliveryFailed", unit=MetricUnit.Count, value=1)
            logger.warning("chat message not delivered", extra={"message_id": sns.MessageId})
            raise
        metrics.add_metric(name="ChatDelivered", unit=MetricUnit.Count, value=1)
        if attempts > 1:
            metrics.add_metric(name="ChatDeliveryRetries", unit=MetricUnit.Count, value=attempts - 1)
        logger.info("chat message delivered", extra={"message_id": sns.MessageId, "attempts": attempts})
        delivered.append(sns.MessageId)
    return {"delivered": delivered}
