"""The alert webhook (API Gateway HTTP API, payload 2.0): POST /alertmanager and POST /grafana.

Checks, in order, each refusal a 4xx with its reason and nothing started: body size (413, before parsing), content
type (415), credentials missing (401) or wrong (403, also a Grafana replay), the body's format (400). Then each alert
is decided (alerts/intake.py), firing ones once per episode (powertools Idempotency on the ops table, keyed by
fingerprint + startsAt), and the answer is 202 with one decision per alert; remediations run asynchronously.
A 5xx only ever comes from a downstream AWS failure (DynamoDB, Step Functions, Secrets Manager): then the sender's
retry is right, and the dedupe record makes the retry safe. Alertmanager retries any 5xx, so bad input never is one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.adapters.remediation_store import BufferedAudit
from freshtrack_ops.adapters.sfn_starter import SfnRemediationStarter
from freshtrack_ops.alerts.auth import Forbidden, Unauthenticated, check_alertmanager, check_grafana
from freshtrack_ops.alerts.intake import AlertDecision, Intake
from freshtrack_ops.alerts.models import Alert, AlertmanagerPayload, GrafanaPayload, alerts_of
from freshtrack_ops.alerts.responses import Accepted, GatewayMessage, Refusal
from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.config import describe_validation_error
from freshtrack_ops.observability import logger, metrics, tracer

app = APIGatewayHttpResolver()
#: the partition of the dedupe records in the ops table (sk = powertools' idempotency key)
DEDUPE_PK = "ALERT#dedupe"


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(Refused)  # type: ignore[untyped-decorator]
def _refused(exc: Refused) -> Response[str]:
    logger.warning(
        "webhook refused", extra={"status": exc.status, "reason": exc.reason, "path": app.current_event.path}
    )
    metrics.add_metric(name=f"WebhookRefused{exc.status}", unit=MetricUnit.Count, value=1)
    return _json(exc.status, Refusal(error=exc.reason).model_dump())


def _settings() -> WebhookSettings:
    raw = runtime.settings().webhook_settings
    return WebhookSettings.model_validate_json(raw) if raw else WebhookSettings()


def _secret(arn: str) -> dict[str, str]:
    if not arn:
        raise RuntimeError("the webhook's secret ARN is not configured")  # a deployment fault: 5xx, not the caller's
    value = runtime.secret(arn, transform="json")
    return {str(k): str(v) for k, v in dict(value).items()}


def _body(settings: WebhookSettings) -> bytes:
    event = app.current_event
    raw = event.body or ""
    if len(raw) > settings.max_body_bytes * 4 // 3 + 4:  # refuse before even decoding
        raise Refused(413, f"body: larger than {settings.max_body_bytes} bytes (got {len(raw)} characters)")
    try:
        body = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode("utf-8")
    except ValueError as exc:  # binascii.Error, a non-ASCII body (b64decode), a lone surrogate (UnicodeEncodeError)
        raise Refused(400, "body: not valid base64 (isBase64Encoded)") from exc
    if len(body) > settings.max_body_bytes:
        raise Refused(413, f"body: larger than {settings.max_body_bytes} bytes (got {len(body)})")
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refused(415, f"content-type: must be application/json (got {content_type[:80]!r})")
    return body


def _authenticate(check: Callable[[], None]) -> None:
    try:
        check()
    except Unauthenticated as exc:
        raise Refused(401, str(exc)) from exc
    except Forbidden as exc:
        raise Refused(403, str(exc)) from exc


def _parse(model: type[AlertmanagerPayload] | type[GrafanaPayload], body: bytes) -> list[Alert]:
    try:
        return alerts_of(model.model_validate_json(body))
    except ValidationError as exc:
        raise Refused(400, describe_validation_error(exc)[:2000]) from exc


@cache
def _idempotency_config(ttl_s: int) -> IdempotencyConfig:
    return IdempotencyConfig(expires_after_seconds=ttl_s)


@cache
def _once(table: str, ttl_s: int, client_id: int) -> Callable[..., dict[str, Any]]:
    """The idempotent wrapper of one alert's decision (built once per table, TTL and DynamoDB client)."""
    layer = DynamoDBPersistenceLayer(
        table_name=table, key_attr="pk", sort_key_attr="sk", static_pk_value=DEDUPE_PK,
        expiry_attr="expires_at",  # the ops table's TTL attribute (stacks/storage_stack.py TTL_ATTRIBUTE)
        boto3_client=runtime.client("dynamodb"),
    )  # fmt: skip

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="alert_key",
        persistence_store=layer,
        # the same config object the handler registers the Lambda context on (_decide_all): a second instance would
        # leave the in-progress expiry unset (powertools warns "Couldn't determine the remaining time left")
        config=_idempotency_config(ttl_s),
    )
    def decide(*, alert_key: dict[str, str], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return work()

    wrapped: Callable[..., dict[str, Any]] = decide
    return wrapped


def _escalate(subject: str, message: str) -> None:
    metrics.add_metric(name="RemediationEscalations", unit=MetricUnit.Count, value=1)
    _notify(subject, message)


def _notify(subject: str, message: str) -> None:
    notifier = runtime.notifier()
    if notifier is not None:
        notifier.publish(subject, message)


def _decide_all(alerts: list[Alert], settings: WebhookSettings) -> list[dict[str, Any]]:
    config = runtime.settings()
    audit = BufferedAudit(runtime.audit_log())
    intake = Intake(
        runtime.targets(), guard=runtime.remediation_guard(), audit=audit,
        starter=SfnRemediationStarter(runtime.client("stepfunctions"), config.remediation_state_machine_arn),
        notify=_notify, escalate=_escalate, now=datetime.now(UTC),
    )  # fmt: skip
    once = _once(config.ops_table, settings.dedupe_ttl_s, id(runtime.client("dynamodb")))
    # an in-progress record expires with this invocation (a crashed one does not block the alert's re-send)
    _idempotency_config(settings.dedupe_ttl_s).register_lambda_context(app.lambda_context)
    request_id = app.current_event.request_context.request_id
    answers: list[dict[str, Any]] = []
    metrics.add_metric(name="AlertsReceived", unit=MetricUnit.Count, value=len(alerts))
    for index, alert in enumerate(alerts):
        if alert.status == "resolved":
            answers.append(intake.resolved(alert).model_dump())
            continue
        # which delivery decided: a stored decision from another request, or from an earlier copy of the same alert
        # in this batch, is a re-send (deduplicated), not a second start
        refused = intake.already_refused(alert)
        decided = (
            refused.model_dump() if refused else _decide_firing(once, intake, alert, decider=f"{request_id}#{index}")
        )
        if decided["outcome"] == "started":
            metrics.add_metric(name="RemediationsStarted", unit=MetricUnit.Count, value=1)
        answers.append(decided)
    audit.flush()  # before the 202: an accepted delivery is audited
    return answers


class _NotRemembered(Exception):
    """A decision the dedupe record must not keep: raising deletes powertools' in-progress record."""

    def __init__(self, decision: dict[str, Any]) -> None:
        super().__init__(decision["outcome"])
        self.decision = decision


def _decide_firing(
    once: Callable[..., dict[str, Any]], intake: Intake, alert: Alert, *, decider: str
) -> dict[str, Any]:
    """One firing alert, decided once per episode. A suppressed one is not remembered: the guard refused it for now
    (rate limit or breaker), so Alertmanager's next re-send (repeat_interval) asks the guard again and acts once the
    window or cool-down has passed; the escalation still goes out once per episode (the guard's store says so)."""

    def work() -> dict[str, Any]:
        decision = intake.firing(alert).model_dump() | {"decided_in": decider}
        if decision["outcome"] == "suppressed":
            raise _NotRemembered(decision)
        return decision

    try:
        decided = once(alert_key={"key": alert.dedupe_key}, work=work)
    except _NotRemembered as refused:
        decided = refused.decision
    except IdempotencyAlreadyInProgressError:
        decided = AlertDecision(
            alertname=alert.alertname, fingerprint=alert.fingerprint, status=alert.status,
            outcome="deduplicated", reason="the same alert is being decided by another delivery",
        ).model_dump()  # fmt: skip
    if decided.pop("decided_in", decider) != decider:
        decided |= {"outcome": "deduplicated", "reason": f"already {decided['outcome']} for this alert"}
    return decided


def _accept(alerts: list[Alert], settings: WebhookSettings) -> Response[str]:
    answers = _decide_all(alerts, settings)
    logger.info("webhook accepted", extra={"alerts": len(alerts), "outcomes": [a["outcome"] for a in answers]})
    return _json(202, {"alerts": answers})


def _refusal(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": Refusal}}}


_RESPONSES: dict[int, OpenAPIResponse] = {
    202: {
        "description": "Accepted: one decision per alert (started, deduplicated, resolved, ignored, suppressed, "
        "notified); remediations run asynchronously",
        "content": {content_types.APPLICATION_JSON: {"model": Accepted}},
    },
    400: _refusal("The body is not this route's format (the field named); nothing started"),
    401: _refusal("Credentials or signature missing; nothing started"),
    403: _refusal("Credentials or signature wrong, or a Grafana timestamp outside the replay window; nothing started"),
    413: _refusal("Body larger than webhook.max_body_bytes; nothing started"),
    415: _refusal("Content-Type is not application/json; nothing started"),
    429: {
        "description": "API Gateway's stage throttling (webhook.throttle_rate_per_s, throttle_burst): retry later",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayMessage}},
    },
    500: {
        "description": "A downstream AWS failure (DynamoDB, Step Functions, Secrets Manager), never bad input: the "
        "sender's retry is right and safe (the dedupe record)",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayMessage}},
    },
}


@app.post(
    "/alertmanager", summary="Prometheus Alertmanager webhook (payload version 4)", operation_id="alertmanager",
    description="webhook_config of Alertmanager 0.25 with http_config.authorization (bearer) or http_config."
    "basic_auth, as the deployment's webhook.alertmanager_auth says; the credentials are in its Secrets Manager "
    "secret.",
    responses=_RESPONSES, security=[{"bearer": []}, {"basic": []}], tags=["alerts"],
)  # fmt: skip
def alertmanager() -> Response[str]:
    settings = _settings()
    body = _body(settings)
    headers = app.current_event.headers
    _authenticate(lambda: check_alertmanager(headers, _secret(runtime.settings().alertmanager_secret_arn), settings))
    return _accept(_parse(AlertmanagerPayload, body), settings)


@app.post(
    "/grafana", summary="Grafana unified alerting webhook contact point (payload version 1)", operation_id="grafana",
    description="Signed with the contact point's HMAC: hex HMAC-SHA256 over `timestamp:body` (over the body alone "
    "when webhook.grafana_timestamp_header is empty); the header names are webhook.grafana_signature_header and "
    "webhook.grafana_timestamp_header, the key is in the deployment's Secrets Manager secret.",
    responses=_RESPONSES, security=[{"grafanaSignature": [], "grafanaTimestamp": []}], tags=["alerts"],
)  # fmt: skip
def grafana() -> Response[str]:
    settings = _settings()
    body = _body(settings)
    headers = app.current_event.headers
    secret = _secret(runtime.settings().grafana_secret_arn)
    _authenticate(lambda: check_grafana(headers, body, secret, settings, time.time()))
    return _accept(_parse(GrafanaPayload, body), settings)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


def openapi_document() -> dict[str, Any]:
    """The endpoint's OpenAPI document (docs/webhook-openapi.json, written by opsctl.docs_gen: make docs).

    Paths, responses and security come from the resolver. The request bodies are added from the payload models:
    powertools documents a body only through a validated ``Body()`` parameter, and its validation would parse the
    body before the credentials are checked (an unauthenticated caller would learn the format; the order here is
    413, 415, 401/403, then 400).
    """
    # Powertools' OpenAPI models (pydantic, ~0.1 s to import) only for this document: never in the function
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBase, HTTPBearer

    defaults = WebhookSettings()
    schemes = {
        "bearer": HTTPBearer(description="webhook.alertmanager_auth: bearer; the secret's token"),
        "basic": HTTPBase(scheme="basic", description="webhook.alertmanager_auth: basic; the secret's user/password"),
        "grafanaSignature": APIKey(
            in_=APIKeyIn.header, name=defaults.grafana_signature_header,
            description="hex HMAC-SHA256 of timestamp:body with the secret's hmac_key",
        ),
        "grafanaTimestamp": APIKey(
            in_=APIKeyIn.header, name=defaults.grafana_timestamp_header,
            description=f"Unix seconds, within webhook.replay_window_s ({defaults.replay_window_s} s) of now "
            "(webhook.grafana_timestamp_header)",
        ),
    }  # fmt: skip
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="FreshTrack Ops alert webhook", version="1",
            description="Alerts from Prometheus Alertmanager and Grafana in, guarded remediations out "
            "(docs/remediation.md).",
            security_schemes=schemes,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for path, model in (("/alertmanager", AlertmanagerPayload), ("/grafana", GrafanaPayload)):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        document["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {content_types.APPLICATION_JSON: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    # powertools always adds its request-validation error schemas; no route here answers with them
    used = _referenced(document["paths"], schemas)
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(used)}
    return document


def _referenced(start: object, schemas: dict[str, Any]) -> set[str]:
    """The component schemas reachable from ``start`` through ``$ref``s."""
    found: set[str] = set()
    todo = [start]
    while todo:
        text = json.dumps(todo.pop())
        for name, schema in schemas.items():
            if name not in found and f'"#/components/schemas/{name}"' in text:
                found.add(name)
                todo.append(schema)
    return found
