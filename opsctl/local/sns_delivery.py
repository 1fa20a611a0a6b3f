"""SNS -> Lambda subscriptions in the local plane, delivered as AWS delivers them.

moto delivers a message to a ``lambda`` subscription itself (``Subscription.publish`` ->
``LambdaBackend.send_sns_message``): synchronously, in the publisher's thread (a workflow's ``sns:publish`` state
or a task's ``SnsNotifier`` would wait for the subscriber and see its failure), through moto's own
``LambdaFunction.invoke`` (Docker here), with a canned event (``Subject`` "TestInvoke" when none was published,
``TopicArn`` "arn:aws:sns:EXAMPLE", ``SigningCertUrl`` "EXAMPLE", which Powertools' ``SnsModel`` refuses as no URL).

AWS invokes the function asynchronously with one record per message ("Invoking Lambda functions with Amazon SNS
notifications", AWS Lambda developer guide: the event's ``Records[0].Sns`` has Type, MessageId, TopicArn, Subject
(null when none), Message, Timestamp, SignatureVersion, Signature, SigningCertUrl, UnsubscribeUrl,
MessageAttributes as ``{name: {Type, Value}}``), and retries an invocation that fails twice before its on-failure
destination gets it. The patch does the same for the functions the plane routes in-process
(``moto_patches.invoke_in_process``): a thread per message, ``ASYNC_RETRY_PAUSES_S`` between attempts (AWS pauses a
minute, then two), and what still fails is kept in ``STATE.dead_letters`` (the dead-letter queue's stand-in).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opsctl.local import moto_patches

#: Lambda's two asynchronous retries, with short pauses
ASYNC_RETRY_PAUSES_S = (0.05, 0.2)


@dataclass(frozen=True)
class DeadLetter:
    function: str
    event: dict[str, Any]
    #: the last invocation's error envelope ({errorType, errorMessage, ...}), as an on-failure record carries it
    error: dict[str, Any]


@dataclass
class _State:
    installed: bool = False
    threads: list[threading.Thread] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = _State()


def sns_event(
    *,
    topic_arn: str,
    subscription_arn: str,
    message: str,
    subject: str | None,
    message_id: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The event SNS invokes a subscribed function with (one record)."""
    region = topic_arn.split(":")[3]
    stamp = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id or str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": stamp,
                    "SignatureVersion": "1",
                    "Signature": "bG9jYWwgcGxhbmU=",
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
                    "UnsubscribeUrl": (
                        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                    ),
                    "MessageAttributes": {
                        name: {"Type": value.get("Type"), "Value": value.get("Value")}
                        for name, value in (message_attributes or {}).items()
                    },
                },
            }
        ]
    }


def _invoke_async(function: str, function_arn: str, event: dict[str, Any]) -> None:
    body = json.dumps(event)
    error: dict[str, Any] = {}
    for pause in (0.0, *ASYNC_RETRY_PAUSES_S):
        time.sleep(pause)
        payload, failed = moto_patches.invoke_in_process(function, function_arn, body)
        if not failed:
            return
        error = json.loads(payload)
    with STATE.lock:
        STATE.dead_letters.append(DeadLetter(function, event, error))


def _delivered_async(original: Any) -> Any:
    def publish(self: Any, message: str, message_id: str, subject: str | None = None, **kwargs: Any) -> None:
        function = str(self.endpoint).split(":")[6] if self.protocol == "lambda" else ""
        if function not in moto_patches.STATE.routes:
            original(self, message, message_id, subject=subject, **kwargs)
            return
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
            kwargs.get("message_attributes"), message
        ):
            return
        event = sns_event(
            topic_arn=self.topic.arn,
            subscription_arn=self.arn,
            message=message,
            subject=subject,
            message_id=message_id,
            message_attributes=kwargs.get("message_attributes"),
        )
        thread = threading.Thread(
            target=_invoke_async, args=(function, self.endpoint, event), daemon=True, name=f"sns-{function}"
        )
        with STATE.lock:
            STATE.threads = [t for t in STATE.threads if t.is_alive()]
            STATE.threads.append(thread)
        thread.start()

    return publish


def in_flight() -> int:
    """Deliveries still under way (an invocation, its retries and pauses)."""
    with STATE.lock:
        return sum(1 for t in STATE.threads if t.is_alive())


def wait_delivered(timeout_s: float) -> bool:
    """Wait for the deliveries under way; False when one is still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with STATE.lock:
        threads = list(STATE.threads)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return in_flight() == 0


def install() -> None:
    """Patch moto's SNS subscriptions once per process (inert for functions the plane does not route)."""
    with STATE.lock:
        if STATE.installed:
            return
        from moto.sns.models import Subscription

        Subscription.publish = _delivered_async(Subscription.publish)  # type: ignore[method-assign]
        STATE.installed = True
