"""The chat secret's value, and the checks its URL must pass before anything is sent to it.

Format (docs/configuration.md "Chat notifications"): JSON ``{"url": "https://hooks.slack.com/services/..."}``,
or the URL alone as the secret string (what one pastes from Slack). Nothing else is read from it.

The URL is the credential (Slack: ``/services/<team>/<channel>/<token>``; Mattermost: ``/hooks/<id>``): no error
here quotes it. An error names the part that is wrong: the scheme, the host (not secret, and what the operator
must compare with ``chat.allowed_hosts``), or "the path".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from freshtrack_ops.chat.settings import ChatSettings
from freshtrack_ops.errors import ConfigError

#: plain http only to the loopback address (the local plane's receiver); nothing listens there in Lambda
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class WebhookUrl:
    """A checked webhook URL, split for ``http.client``; ``repr`` shows the host only."""

    scheme: str
    host: str
    port: int | None
    target: str = field(repr=False)  # path and query: the credential


def _url_text(secret_value: str) -> str:
    text = secret_value.strip()
    if not text.startswith("{"):
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        raise ConfigError('chat secret: not valid JSON (expected {"url": "https://..."} or the URL alone)') from None
    url = parsed.get("url") if isinstance(parsed, dict) else None
    if not isinstance(url, str):
        raise ConfigError('chat secret: the JSON has no string field "url"')
    return url.strip()


def webhook_url(secret_value: str, settings: ChatSettings) -> WebhookUrl:
    """The checked URL of the secret's value; ConfigError naming what is wrong (never quoting the URL)."""
    text = _url_text(secret_value)
    if not text or "://" not in text:
        raise ConfigError(
            "chat secret: holds no URL (still the stack's placeholder? put the webhook URL in it: "
            "docs/configuration.md, Chat notifications)"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError("chat secret: the URL does not parse") from None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise ConfigError("chat secret: the URL must not carry user information (user:password@)")
    if host not in settings.allowed_hosts:
        raise ConfigError(f"chat secret: the URL's host is not in chat.allowed_hosts (got {host[:100]!r})")
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and host == LOOPBACK):
        raise ConfigError(f"chat secret: the URL must use https (got {scheme[:10]!r})")
    if parts.fragment or len(parts.path) < 2:
        raise ConfigError("chat secret: the URL's path is missing or it has a #fragment")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return WebhookUrl(scheme=scheme, host=host, port=port, target=target)
