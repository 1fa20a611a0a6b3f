"""Delivering one chat message: the retry policy, on the ``ChatWebhook`` port (no I/O here; the clock is injected).

* 2xx: delivered.
* 429: retried after the answer's ``Retry-After`` (seconds; capped at ``max_retry_after_s``), else the back-off.
* 5xx, and a request that got no answer (``ChatUnreachable``: refused, reset, timed out): retried after the
  back-off (``backoff_s``, doubled each time).
* Anything else (a 4xx: a revoked or mistyped webhook answers 403/404 ``no_service``/``invalid_token``, and a
  retry cannot change that; a 3xx, which is not followed: a redirect elsewhere is not where the URL pointed): fails
  at once.
* After ``max_attempts``: ``ChatDeliveryFailed`` ("chat webhook: HTTP 500 after 3 attempts"). The handler lets it
  propagate: Lambda's asynchronous retries and then the dead-letter queue keep the message.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.errors import ChatDeliveryFailed
from freshtrack_ops.ports import ChatWebhook

HTTP_TOO_MANY_REQUESTS = 429


class ChatUnreachable(Exception):
    """A request that got no HTTP answer; its message says what happened (never the URL)."""


def retry_after_s(header: str | None) -> float | None:
    """A ``Retry-After`` in seconds (delta-seconds, as Slack sends it); None when absent or not a number (an
    HTTP-date: the back-off is used instead)."""
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def deliver(
    webhook: ChatWebhook,
    body: bytes,
    settings: ChatSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``body`` until it is taken; returns the number of attempts it took. Raises ``ChatDeliveryFailed``."""
    last, pause = "", 0.0
    for attempt in range(1, settings.max_attempts + 1):
        if attempt > 1:
            sleep(pause)
        try:
            status, retry_after = webhook.post(body)
        except ChatUnreachable as exc:
            last, pause = f"no answer ({exc})", settings.pause_s(attempt)
            continue
        if 200 <= status < 300:
            return attempt
        last = f"HTTP {status}"
        if status == HTTP_TOO_MANY_REQUESTS:
            named = retry_after_s(retry_after)
            pause = settings.pause_s(attempt) if named is None else min(named, settings.max_retry_after_s)
        elif status >= 500:
            pause = settings.pause_s(attempt)
        else:
            raise ChatDeliveryFailed(f"chat webhook: {last} (not retried: only 429 and 5xx are)")
    raise ChatDeliveryFailed(f"chat webhook: {last} after {settings.max_attempts} attempts")
