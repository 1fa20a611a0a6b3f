"""Who may call the webhook: Alertmanager with a bearer token or basic auth, Grafana with an HMAC-SHA256 signature of
``timestamp:body`` inside a replay window. Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from freshtrack_ops.alerts.settings import WebhookSettings


class Unauthenticated(Exception):
    """No credentials, or no signature (401)."""


class Forbidden(Exception):
    """Wrong credentials, a wrong signature, or a replay (403)."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def check_alertmanager(headers: Mapping[str, str], secret: Mapping[str, str], settings: WebhookSettings) -> None:
    given = _header(headers, "authorization")
    if not given:
        raise Unauthenticated("authorization: missing (Alertmanager's http_config authorization/basic_auth)")
    scheme, _, credentials = given.partition(" ")
    if settings.alertmanager_auth == "bearer":
        expected = secret.get("token", "")
        ok = scheme.lower() == "bearer" and bool(expected)
        # compare_digest on bytes of any length: constant time in the expected value's length
        if not (hmac.compare_digest(credentials.strip().encode(), expected.encode()) and ok):
            raise Forbidden("authorization: the bearer token is not this deployment's")
        return
    try:
        user, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Forbidden("authorization: not valid basic credentials") from exc
    user_ok = hmac.compare_digest(user.encode(), secret.get("username", "").encode())
    password_ok = hmac.compare_digest(password.encode(), secret.get("password", "").encode())
    if scheme.lower() != "basic" or not (user_ok and password_ok) or not secret.get("password"):
        raise Forbidden("authorization: the basic credentials are not this deployment's")


def grafana_signature(key: str, timestamp: str | None, body: bytes) -> str:
    """What Grafana puts in its signature header: hex HMAC-SHA256 over ``timestamp:body``, or over the body alone when
    its contact point has no timestamp header (grafana/alerting http/hmac.go)."""
    signed = body if timestamp is None else timestamp.encode() + b":" + body
    return hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def check_grafana(
    headers: Mapping[str, str], body: bytes, secret: Mapping[str, str], settings: WebhookSettings, now: float
) -> None:
    signature_header, timestamp_header = settings.grafana_signature_header, settings.grafana_timestamp_header
    signature = _header(headers, signature_header)
    timestamp = _header(headers, timestamp_header) if timestamp_header else None
    if not signature or (timestamp_header and not timestamp):
        missing = "/".join(name for name in (signature_header, timestamp_header) if name)
        raise Unauthenticated(f"{missing}: missing (Grafana's HMAC signature of the contact point)")
    key = secret.get("hmac_key", "")
    expected = grafana_signature(key, timestamp.strip() if timestamp is not None else None, body)
    if not key or not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise Forbidden(f"{signature_header}: the signature does not match the body")
    if timestamp is not None:
        _check_fresh(timestamp.strip(), timestamp_header, settings.replay_window_s, now)


def _check_fresh(timestamp: str, header: str, window_s: int, now: float) -> None:
    """Grafana sends Unix seconds (``strconv.FormatInt(clk.Now().Unix(), 10)``); milliseconds are read too, for
    senders that imitate it."""
    try:
        sent = float(timestamp)
    except ValueError as exc:
        raise Forbidden(f"{header}: not a Unix timestamp") from exc
    if sent > 1e11:  # milliseconds: 1e11 s is the year 5138
        sent /= 1000
    if not abs(now - sent) <= window_s:  # "not <=": a NaN or infinite timestamp is outside too
        raise Forbidden(f"{header}: {now - sent:.0f} s from now, outside the replay window ({window_s} s)")
