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


def grafana_signature(key: str, timestamp: str, body: bytes) -> str:
    """What Grafana puts in its signature header: hex HMAC-SHA256 over ``timestamp:body``."""
    return hmac.new(key.encode(), timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def check_grafana(
    headers: Mapping[str, str], body: bytes, secret: Mapping[str, str], settings: WebhookSettings, now: float
) -> None:
    signature = _header(headers, settings.grafana_signature_header)
    timestamp = _header(headers, settings.grafana_timestamp_header)
    if not signature or not timestamp:
        raise Unauthenticated(
            f"{settings.grafana_signature_header}/{settings.grafana_timestamp_header}: missing (Grafana's HMAC "
            "signature with a timestamp header)"
        )
    key = secret.get("hmac_key", "")
    expected = grafana_signature(key, timestamp.strip(), body)
    if not key or not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise Forbidden(f"{settings.grafana_signature_header}: the signature does not match the body")
    try:
        sent = float(timestamp.strip())
    except ValueError as exc:
        raise Forbidden(f"{settings.grafana_timestamp_header}: not a Unix timestamp") from exc
    if sent > 1e12:  # milliseconds
        sent /= 1000
    if abs(now - sent) > settings.replay_window_s:
        raise Forbidden(
            f"{settings.grafana_timestamp_header}: {int(now - sent)} s from now, outside the replay window "
            f"({settings.replay_window_s} s)"
        )
