"""Fuzzing the alert webhook's authentication headers (issue 17, docs/architecture.md#fuzzing).

Grafana's signature and timestamp and Alertmanager's bearer token, in every shape a sender, a proxy or an attacker
may give them: missing, empty, whitespace (SP/HTAB, and Unicode spaces that are not HTTP's), other schemes and
cases, extra spaces, the token with something before or after it, cut short or another one, Unicode and lone
surrogates, two values of one header (API Gateway's HTTP API joins duplicates with commas), header names in any case,
signatures of another body, timestamp or key, truncated or uppercased hex, timestamps that are not digits, negative,
fractional, huge, or outside the replay window. The property: only the exactly valid credential is accepted
(``valid_alertmanager``/``valid_grafana`` below say what that is, as alerts/auth.py documents it); every other is a
401 (missing) or a 403 (wrong), never a 500 or an exception, and starts nothing (no execution, no dedupe record).

Through the handler, requests are built as API Gateway's HTTP API delivers them to Lambda (payload format 2.0,
``monitoring.bridge.make_event``): "All header names are lowercase" and "Duplicate headers are combined with commas
and included in the headers field" (AWS API Gateway developer guide, "Create AWS Lambda proxy integrations for HTTP
APIs", payload format differences and structure:
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html). The checks
themselves are also fed header dicts whose names keep their case (a direct invocation, another integration).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshtrack_ops.alerts.auth import Forbidden, Unauthenticated, check_alertmanager, check_grafana
from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.handlers import alerts
from opsctl.local.monitoring.bridge import make_event
from tests.unit.test_alert_webhook import (  # the module's moto world and its helpers
    HMAC_KEY,
    REGION,
    TOKEN,
    Context,
    World,
    _alert,
    _payload,
    shared,
    world,
)

__all__ = ["shared", "world"]  # fixtures, used by name

SETTINGS = WebhookSettings()
WINDOW = SETTINGS.replay_window_s
SIGNATURE = SETTINGS.grafana_signature_header
TIMESTAMP = SETTINGS.grafana_timestamp_header
#: HTTP's optional whitespace around a field value (RFC 9110 5.6.3): SP and HTAB, nothing else
OWS = " \t"
_DIGITS = "0123456789"


# -- what is valid, exactly --------------------------------------------------------------------------------------------
def _joined(values: list[str]) -> str | None:
    """A header as the function gets it: duplicates joined with commas, optional whitespace not part of it."""
    value = ",".join(values).strip(OWS) if values else ""
    return value or None


def valid_alertmanager(values: list[str]) -> int:
    """202, 401 or 403 for the Authorization header values sent: the scheme ``bearer`` in any ASCII case, one space
    and any more whitespace, the token, nothing else."""
    value = _joined(values)
    if value is None:
        return 401
    scheme, space, rest = value.partition(" ")
    ok = space and scheme.isascii() and scheme.lower() == "bearer" and rest.strip(OWS) == TOKEN
    return 202 if ok else 403


def _hex_hmac(timestamp: str, body: bytes, key: str = HMAC_KEY) -> str:
    signed = timestamp.encode("utf-8", "surrogatepass") + b":" + body
    return hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def valid_grafana(signatures: list[str], timestamps: list[str], body: bytes, now: float) -> int:
    """202, 401 or 403: the signature (hex in either case) of ``timestamp:body`` with the key, the timestamp ASCII
    digits (seconds, or milliseconds above 1e11) within the replay window of now."""
    signature, timestamp = _joined(signatures), _joined(timestamps)
    if signature is None or timestamp is None:
        return 401
    if signature.encode("utf-8", "surrogatepass").lower() != _hex_hmac(timestamp, body).encode():
        return 403
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20):
        return 403
    sent = int(timestamp) / 1000 if int(timestamp) > 1e11 else int(timestamp)
    return 202 if abs(now - sent) <= WINDOW else 403


# -- the strategies ----------------------------------------------------------------------------------------------------
#: any character, lone surrogates included (a JSON event may carry "\udc80")
_any_text = st.text(st.characters(exclude_categories=()), max_size=60)
_ows = st.sampled_from(["", " ", "\t", " \t ", "\n", "\r\n", "\x0b", "\x85", "\u00a0", "\u2003", "\u3000"])


def _name_cases(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper(), name.swapcase(), name[:1].lower() + name[1:].upper()])


_token_variants = st.one_of(
    st.just(TOKEN),
    st.sampled_from(
        [
            TOKEN + "x", "x" + TOKEN, TOKEN[:-1], TOKEN[1:], TOKEN.upper(), TOKEN[:20] + " " + TOKEN[20:],
            TOKEN + "\x00", TOKEN + "\x85", TOKEN + "\u3000", TOKEN[:20] + "é" + TOKEN[20:], TOKEN + "\udc80",
            f"{TOKEN},Bearer {TOKEN}", "", "other-token-" + "o" * 30, "\ufeff" + TOKEN,
        ]
    ),
    _any_text,
)  # fmt: skip
_schemes = st.sampled_from(
    ["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "Bearer:", "Bear", "Bearerx", "", "Bearer\t",
     "Bearer\u00a0", "\uff22earer", "Bearer\x00"]
)  # fmt: skip
_separators = st.sampled_from([" ", "  ", " \t", "\t", "", "\u00a0", "\u3000", " \u3000"])
_authorization_values = st.one_of(
    st.builds(lambda a, s, p, t, b: a + s + p + t + b, _ows, _schemes, _separators, _token_variants, _ows),
    _any_text,
)
#: Authorization headers as sent: none, one or two (joined with a comma by API Gateway), each name in some case
_authorization_headers = st.lists(st.tuples(_name_cases("Authorization"), _authorization_values), max_size=2)


def _timestamp_choices(now: int) -> list[str]:
    ahead, behind = now + WINDOW - 5, now - WINDOW + 5
    return [
        str(now), str(ahead), str(behind), str(now + WINDOW + 5), str(now - WINDOW - 5), str(now - 10**6),
        str(now + 10**6), "0", str(-now), "-" + str(now), "+" + str(now), str(now * 1000), str(now * 1000 + 400_000),
        "9" * 25, f"{now}.5", f"{now}.0", f"{float(now):e}", "nan", "inf", "soon", "", str(now).translate(
            str.maketrans(_DIGITS, "٠١٢٣٤٥٦٧٨٩")
        ), f"{now:_}", "0x" + format(now, "x"), f"{now},{now}", "\udc80",
    ]  # fmt: skip


@st.composite
def grafana_headers(draw: st.DrawFn, body: bytes, now: int) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(header tuples as sent, the signature values, the timestamp values): one timestamp (or none, or two), a
    signature of the right or a wrong thing in some shape (or none, or two)."""
    stamp = draw(st.one_of(st.sampled_from(_timestamp_choices(now)), _any_text))
    sent_stamp = draw(_ows) + stamp + draw(_ows)
    timestamps = draw(st.sampled_from([[sent_stamp], [sent_stamp], [], [sent_stamp, sent_stamp]]))
    signed_stamp = (_joined(timestamps) or "").strip(OWS)
    right = _hex_hmac(signed_stamp, body)
    signature = draw(
        st.one_of(
            st.sampled_from(
                [
                    right, right.upper(), right[:-1], right[:32], right + "0", "0" + right, " " + right,
                    _hex_hmac(signed_stamp, body + b" "), _hex_hmac(str(now), body),
                    _hex_hmac(signed_stamp, body, "k2"),
                    hashlib.sha256(body).hexdigest(), "", right + "\x85", "sha256=" + right, right.replace("a", "à"),
                ]
            ),
            _any_text,
        )
    )  # fmt: skip
    signatures = draw(st.sampled_from([[signature], [signature], [], [signature, signature]]))
    headers = [(draw(_name_cases(SIGNATURE)), value) for value in signatures]
    headers += [(draw(_name_cases(TIMESTAMP)), value) for value in timestamps]
    return draw(st.permutations(headers)), signatures, timestamps


# -- the checks, fed header dicts with names in any case ------------------------------------------------------------
@settings(max_examples=600)
@given(headers=_authorization_headers)
def test_only_the_exact_bearer_token_passes_the_alertmanager_check(headers: list[tuple[str, str]]) -> None:
    given_headers = {name: value for name, value in headers[:1]}  # a dict keeps one value per name
    expected = valid_alertmanager([value for _, value in headers[:1]])
    outcome = _outcome(lambda: check_alertmanager(given_headers, {"token": TOKEN}, SETTINGS))
    assert outcome == expected, (headers, outcome)


@settings(max_examples=600)
@given(data=st.data(), body=st.binary(max_size=40))
def test_only_a_valid_fresh_signature_passes_the_grafana_check(data: st.DataObject, body: bytes) -> None:
    now = int(time.time())
    headers, signatures, timestamps = data.draw(grafana_headers(body, now))
    if len(signatures) > 1 or len(timestamps) > 1:
        return  # a dict keeps one value per name: duplicates are the handler test's
    outcome = _outcome(lambda: check_grafana(dict(headers), body, {"hmac_key": HMAC_KEY}, SETTINGS, now))
    assert outcome == valid_grafana(signatures, timestamps, body, now), (headers, outcome)


@settings(max_examples=400)
@given(
    headers=st.dictionaries(
        st.one_of(_name_cases("Authorization"), _name_cases(SIGNATURE), _name_cases(TIMESTAMP), _any_text),
        _any_text,
        max_size=4,
    ),
    body=st.binary(max_size=40),
    mode=st.sampled_from(["bearer", "basic"]),
)
def test_no_header_value_makes_a_check_raise_anything_but_a_refusal(
    headers: dict[str, str], body: bytes, mode: str
) -> None:
    """Whatever the headers hold (lone surrogates, control characters, any Unicode): 401, 403 or accepted."""
    settings_ = WebhookSettings(alertmanager_auth=mode)
    secret = {"token": TOKEN, "username": "alertmanager", "password": "pa:ss", "hmac_key": HMAC_KEY}
    assert _outcome(lambda: check_alertmanager(headers, secret, settings_)) in (202, 401, 403)
    assert _outcome(lambda: check_grafana(headers, body, secret, settings_, time.time())) in (202, 401, 403)


def _outcome(check: Any) -> int:
    try:
        check()
    except Unauthenticated:
        return 401
    except Forbidden:
        return 403
    return 202


# -- regressions (each was accepted, or crashed, before) ---------------------------------------------------------------
BASIC = WebhookSettings(alertmanager_auth="basic")


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("Basic ü", BASIC, Forbidden),  # b64decode of a non-ASCII str raised ValueError: a 500
        ("Basic \udc80", BASIC, Forbidden),
        (f"Bearer {TOKEN}\x85", SETTINGS, Forbidden),  # str.strip() took NEL (and U+3000, ...) for whitespace
        (f"Bearer {TOKEN}\u3000", SETTINGS, Forbidden),
        ("Bearer \udc80", SETTINGS, Forbidden),  # str.encode() raised UnicodeEncodeError: a 500
        (" \t ", SETTINGS, Unauthenticated),  # only whitespace is no credential, not a wrong one
        (f" \tbearer  \t{TOKEN} \t", SETTINGS, None),  # optional whitespace and the scheme's case are HTTP's
    ],
)
def test_alertmanager_header_regressions(value: str, mode: WebhookSettings, expected: type[Exception] | None) -> None:
    secret = {"token": TOKEN, "username": "alertmanager", "password": "pa:ss"}
    if expected is None:
        check_alertmanager({"authorization": value}, secret, mode)
    else:
        with pytest.raises(expected):
            check_alertmanager({"authorization": value}, secret, mode)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("{now}.0", Forbidden),  # float() read it: a signed fraction passed
        ("+{now}", Forbidden),
        ("{now:_}", Forbidden),  # float() reads "1_764_600_000"
        ("{arabic}", Forbidden),  # float() reads other scripts' digits
        (" ", Unauthenticated),  # whitespace only: missing, as an empty header is
        ("{now}", None),
        ("{millis}", None),
    ],
)
def test_grafana_timestamp_regressions(stamp: str, expected: type[Exception] | None) -> None:
    now = int(time.time())
    arabic = str(now).translate(str.maketrans(_DIGITS, "٠١٢٣٤٥٦٧٨٩"))
    value = stamp.format(now=now, arabic=arabic, millis=now * 1000)
    body = b'{"version":"1"}'
    headers = {SIGNATURE: _hex_hmac(value.strip(OWS), body), TIMESTAMP: value}
    if expected is None:
        check_grafana(headers, body, {"hmac_key": HMAC_KEY}, SETTINGS, now)
    else:
        with pytest.raises(expected):
            check_grafana(headers, body, {"hmac_key": HMAC_KEY}, SETTINGS, now)


# -- through the handler, as API Gateway delivers requests ----------------------------------------------------------
@pytest.fixture(scope="module")
def dynamodb(shared: Any) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def _started(world: World, dynamodb: Any) -> tuple[int, int]:
    """Executions and dedupe records so far: what an accepted request adds to."""
    records = dynamodb.query(
        TableName=world.table, KeyConditionExpression="pk = :pk", Select="COUNT",
        ExpressionAttributeValues={":pk": {"S": alerts.DEDUPE_PK}},
    )["Count"]  # fmt: skip
    return len(world.executions()), records


def _post(path: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    event = make_event(method="POST", path=path, query="", headers=headers, body=body, source_ip="127.0.0.1")
    answer = alerts.handler(event, Context())
    return int(answer["statusCode"]), json.loads(answer.get("body") or "{}")


def _assert_answer(
    world: World, dynamodb: Any, status: int, answer: dict[str, Any], expected: int, before: tuple[int, int]
) -> None:
    assert status == expected, (status, answer)
    if expected == 202:  # decided (started, or suppressed once the guard's rate limit is reached)
        assert len(answer["alerts"]) == 1 and answer["alerts"][0]["outcome"] in ("started", "suppressed")
    else:
        assert answer["error"] and TOKEN not in answer["error"] and HMAC_KEY not in answer["error"]
        assert _started(world, dynamodb) == before, "a refused request started something"


#: fewer examples than the checks' own fuzzing above (600 each): a request through the handler on moto costs ~30 ms
_FUZZ = settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(headers=_authorization_headers)
def test_alertmanager_requests_are_accepted_only_with_the_exact_token(
    world: World, dynamodb: Any, headers: list[tuple[str, str]]
) -> None:
    body = json.dumps(_payload(_alert(fingerprint=uuid.uuid4().hex[:16]))).encode()
    before = _started(world, dynamodb)
    status, answer = _post("/alertmanager", body, [("Content-Type", "application/json"), *headers])
    _assert_answer(world, dynamodb, status, answer, valid_alertmanager([value for _, value in headers]), before)


@_FUZZ
@given(data=st.data())
def test_grafana_requests_are_accepted_only_with_a_valid_fresh_signature(
    world: World, dynamodb: Any, data: st.DataObject
) -> None:
    body = json.dumps(_payload(_alert(fingerprint=uuid.uuid4().hex[:16]), version="1")).encode()
    now = int(time.time())
    headers, signatures, timestamps = data.draw(grafana_headers(body, now))
    before = _started(world, dynamodb)
    status, answer = _post("/grafana", body, [("content-type", "application/json"), *headers])
    _assert_answer(world, dynamodb, status, answer, valid_grafana(signatures, timestamps, body, now), before)


def test_header_names_arrive_lowercased_and_duplicates_joined_as_api_gateway_sends_them(world: World) -> None:
    """The event the handler is fuzzed with is API Gateway's: a valid token under any name case passes, and two
    Authorization headers (even both valid) are one wrong credential."""
    body = json.dumps(_payload(_alert(fingerprint="00000000000000aa"))).encode()
    event = make_event(
        method="POST", path="/alertmanager", query="", body=body, source_ip="127.0.0.1",
        headers=[("AUTHORIZATION", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
    )  # fmt: skip
    assert set(event["headers"]) == {"authorization", "content-type"}
    assert (
        _post("/alertmanager", body, [("AUTHORIZATION", f"Bearer {TOKEN}"), ("Content-Type", "application/json")])[0]
        == 202
    )
    twice = [("Authorization", f"Bearer {TOKEN}")] * 2 + [("Content-Type", "application/json")]
    assert (
        make_event(method="POST", path="/", query="", headers=twice, body=b"", source_ip="x")["headers"][
            "authorization"
        ]
        == f"Bearer {TOKEN},Bearer {TOKEN}"
    )
    assert _post("/alertmanager", body, twice)[0] == 403


def test_a_base64_body_with_non_ascii_characters_is_a_400_not_a_500(world: World) -> None:
    """Regression: base64.b64decode of a str holding non-ASCII raised ValueError, not binascii.Error: a 500."""
    event = make_event(
        method="POST", path="/alertmanager", query="", body=b"{}", source_ip="127.0.0.1",
        headers=[("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")],
    ) | {"body": "e30=é", "isBase64Encoded": True}  # fmt: skip
    answer = alerts.handler(event, Context())
    assert answer["statusCode"] == 400 and world.executions() == []
