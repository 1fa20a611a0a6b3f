"""Who may call the webhook: Alertmanager with a bearer token or basic auth, Grafana with an HMAC-SHA256 signature of
``timestamp:body`` inside a replay window. Every comparison is constant-time (``hmac.compare_digest``).

What is accepted, exactly (tests/unit/test_fuzz_webhook_auth.py): header names in any case (API Gateway's HTTP API
hands them over lowercased; a direct invocation may not); a header value without its surrounding optional whitespace
(SP and HTAB only, RFC 9110 section 5.5: no other Unicode space); an Authorization of the scheme (any case,
RFC 9110 section 11.1), one or more spaces and the credentials; a Grafana signature as lowercase or uppercase hex;
a Grafana timestamp of ASCII digits (Unix seconds as Grafana sends them, or milliseconds). A header that is absent or
holds only whitespace is missing (Unauthenticated, 401); anything else that is not exactly right is wrong (Forbidden,
403), whatever characters it holds: no value makes these checks raise anything else. Duplicate headers reach the
function joined with commas (payload 2.0), so two credentials are one wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from freshtrack_ops.alerts.settings import WebhookSettings


class Unauthenticated(Exception):
    """No credentials, or no signature (401)."""


class Forbidden(Exception):
    """Wrong credentials, a wrong signature, or a replay (403)."""


#: the optional whitespace around a header value (RFC 9110 section 5.6.3: SP and HTAB, nothing else)
_OWS = " \t"
#: a Grafana timestamp: Unix seconds (strconv.FormatInt), or milliseconds; 20 digits is past any real time
_TIMESTAMP = re.compile(r"[0-9]{1,20}")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The header's value without its optional whitespace; None when absent or empty."""
    wanted = name.lower()
    value = next((value for key, value in headers.items() if str(key).lower() == wanted), None)
    return (value.strip(_OWS) or None) if isinstance(value, str) else None


def _bytes(text: str) -> bytes:
    """``text`` to compare: UTF-8, a lone surrogate (JSON may carry one) kept as its own bytes, never an error."""
    return text.encode("utf-8", "surrogatepass")


def check_alertmanager(headers: Mapping[str, str], secret: Mapping[str, str], settings: WebhookSettings) -> None:
    given = _header(headers, "authorization")
    if not given:
        raise Unauthenticated("authorization: missing (Alertmanager's http_config authorization/basic_auth)")
    scheme, _, credentials = given.partition(" ")
    credentials = credentials.strip(_OWS)
    if settings.alertmanager_auth == "bearer":
        expected = secret.get("token", "")
        ok = scheme.lower() == "bearer" and bool(expected)
        # compare_digest on bytes of any length: constant time in the expected value's length
        if not (hmac.compare_digest(_bytes(credentials), _bytes(expected)) and ok):
            raise Forbidden("authorization: the bearer token is not this deployment's")
        return
    try:
        user, _, password = base64.b64decode(_bytes(credentials), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise Forbidden("authorization: not valid basic credentials") from exc
    user_ok = hmac.compare_digest(_bytes(user), _bytes(secret.get("username", "")))
    password_ok = hmac.compare_digest(_bytes(password), _bytes(secret.get("password", "")))
    if scheme.lower() != "basic" or not (user_ok and password_ok) or not secret.get("password"):
        raise Forbidden("authorization: the basic credentials are not this deployment's")


def grafana_signature(key: str, timestamp: str | None, body: bytes) -> str:
    """What Grafana puts in its signature header: hex HMAC-SHA256 over ``timestamp:body``, or over the body alone when
    its contact point has no timestamp header (grafana/alerting http/hmac.go)."""
    signed = body if timestamp is None else _bytes(timestamp) + b":" + body
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
    expected = grafana_signature(key, timestamp, body)
    # hex in either case: bytes.lower() changes ASCII letters only
    if not key or not hmac.compare_digest(_bytes(signature).lower(), expected.encode()):
        raise Forbidden(f"{signature_header}: the signature does not match the body")
    if timestamp is not None:
        _check_fresh(timestamp, timestamp_header, settings.replay_window_s, now)


def _check_fresh(timestamp: str, header: str, window_s: int, now: float) -> None:
    """Grafana sends Unix seconds (``strconv.FormatInt(clk.Now().Unix(), 10)``): ASCII digits; milliseconds are read
    too, for senders that imitate it. Anything else (a sign, a fraction, an exponent, "nan", other digits) is no
    Unix timestamp, even signed."""
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Forbidden(f"{header}: not a Unix timestamp (digits)")
    sent = float(int(timestamp))
    if sent > 1e11:  # milliseconds: 1e11 s is the year 5138
        sent /= 1000
    if not abs(now - sent) <= window_s:  # "not <=": a NaN or infinite timestamp is outside too
        raise Forbidden(f"{header}: {now - sent:.0f} s from now, outside the replay window ({window_s} s)")
