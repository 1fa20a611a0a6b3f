"""Redaction of bearer credentials in text that leaves the control plane.

A presigned S3 URL authenticates whoever holds it: its query (``X-Amz-Credential``, ``X-Amz-Signature``,
``X-Amz-Security-Token``, ...) is the credential. Such URLs are minted for the SSM data path and handed to
the host as command parameters; they must never reach an error cause, an execution history, a log line or a
notification (DESIGN.md section 7). Text built from external sources (a host script's stderr, an SSM or S3
error message, the agent's own validation error, which quotes the refused value) may carry one, so every
place that turns such text into an error, a log line or a notification passes it through ``redact``:

* a URL whose query looks presigned keeps its scheme, host and path (useful: it names the object) and
  loses the whole query: ``https://b.s3.amazonaws.com/backups/x.dump?<redacted>``;
* any credential field left over (a URL cut in two by truncation, a bare query string) loses its value:
  ``X-Amz-Signature=<redacted>``;
* a URL's user information loses its value: a repository URL may carry a token
  (``https://x-access-token:<token>@github.com/...`` becomes ``https://<redacted>@github.com/...``).

``describe`` names a credential-bearing value without echoing it ("a presigned URL, 1532 characters").

``redact_log_line`` is for lines of the application's own logs (the daily check's samples, the service
workflow's saved logs): everything ``redact`` does, and whatever looks like a secret in a log line (see there).
The host scripts apply the same rules with sed (host_scripts/lib/redact.sh ``redact_lines``) before a line leaves
the host, so SSM's stored output holds none either; the control plane applies this
function again to what arrives (defence in depth: the two must not be trusted to agree on every edge).
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

#: query fields that make a URL a presigned one (SigV4 query authentication; SigV2's Signature/AWSAccessKeyId)
_CREDENTIAL_FIELDS = ("x-amz-", "signature=", "awsaccesskeyid=")
#: a URL with a query: scheme://authority/path?query, ending at whitespace, a quote, a bracket or a backtick
#: (how URLs end inside repr(), JSON, log lines and shell messages)
_URL_WITH_QUERY = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s?#'\"<>`]*\?[^\s'\"<>`]*")
#: a credential field anywhere (also in a query that lost its URL, or percent-encoded inside another URL)
#: the user information of a URL (``scheme://user:password@``), up to the last "@" before the host
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,15}://)[^\s/?#'\"<>`]+@")
_CREDENTIAL_FIELD = re.compile(
    r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)(=|%3D)[^&\s'\"<>`]*"
)


def looks_presigned(text: str) -> bool:
    """True when ``text`` carries a presigned-URL credential field (case-insensitive)."""
    return _CREDENTIAL_FIELD.search(text) is not None


def _redact_url(match: re.Match[str]) -> str:
    url = match.group(0)
    base, _, query = url.partition("?")
    lowered = query.lower()
    if any(field in lowered for field in _CREDENTIAL_FIELDS):
        return f"{base}?{REDACTED}"
    return url


def redact(text: str) -> str:
    """``text`` with the query of every presigned-looking URL, every stray credential field and every URL's user
    information redacted."""
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    if "?" not in text and "=" not in text and "%3D" not in text.upper():
        return text
    text = _URL_WITH_QUERY.sub(_redact_url, text)
    return _CREDENTIAL_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


#: a key whose value is a secret: ``password``, ``passwd``, ``secret``, ``token``, ``api_key``/``apikey``/``api-key``,
#: also at the end of a longer key (``db_password``, ``access_token``, ``x-api-key``, ``JWT_SECRET``)
_SECRET_KEY = r"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key)"  # noqa: S105 - a pattern
#: ``key=value``, ``key: value``, ``"key":"value"``, ``\"key\":\"value\"`` (JSON inside a JSON string); the value
#: a double-quoted string (escapes allowed), an escaped-quoted one, a single-quoted one, or a bare word ending at
#: whitespace, ``&,;`` or a quote/bracket
_KEY_VALUE = re.compile(
    rf"(?i)(\b{_SECRET_KEY}(?:\\?[\"'])?\s*[:=]\s*)"
    r"(\\\"[^\"]*\\\"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s&,;\"'\\)}\]]+)"
)
#: ``Bearer <token>`` anywhere (an Authorization header in any form)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
#: ``Authorization: Basic <base64>`` (``Basic`` alone is too common a word)
_BASIC = re.compile(r"(?i)(authorization(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?\s*basic)\s+[A-Za-z0-9+/=]+")
#: an AWS access key id (long-term AKIA, temporary ASIA)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
#: a PEM private key block, to its END line or, cut short, as far as it goes (its body holds no "--")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[^-]|-(?!-))*(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?"
)
REDACTED_KEY = "<redacted private key>"


def _quoted_redacted(match: re.Match[str]) -> str:
    value = match.group(2)
    if value.startswith('\\"'):
        return f'{match.group(1)}\\"{REDACTED}\\"'
    if value[0] in "\"'":
        return f"{match.group(1)}{value[0]}{REDACTED}{value[0]}"
    return f"{match.group(1)}{REDACTED}"


def redact_log_line(text: str) -> str:
    """``text`` (an application log line) with everything ``redact`` removes, and: values of secret-named keys
    (``password=``, ``"token":"..."``, ``api_key: ...``, see ``_SECRET_KEY``), ``Bearer`` tokens, ``Authorization:
    Basic`` credentials, AWS access key ids and private key blocks. Idempotent."""
    text = redact(text)
    text = _PRIVATE_KEY.sub(REDACTED_KEY, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _BASIC.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _AWS_KEY_ID.sub(REDACTED, text)
    return _KEY_VALUE.sub(_quoted_redacted, text)


def describe(value: str) -> str:
    """A credential-bearing value described, never echoed."""
    kind = "a presigned URL" if looks_presigned(value) or "://" in value else "a credential"
    return f"{kind}, {len(value)} characters"


__all__ = ["REDACTED", "REDACTED_KEY", "describe", "looks_presigned", "redact", "redact_log_line"]
