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
import binascii
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.adapters.sfn_starter import SfnRemediationStarter
from freshtrack_ops.alerts.auth import Forbidden, Unauthenticated, check_alertmanager, check_grafana
from freshtrack_ops.alerts.intake import AlertDecision, Intake
from freshtrack_ops.alerts.models import Alert, AlertmanagerPayload, GrafanaPayload, alerts_of
from freshtrack_ops.alerts.openapi import route_responses
from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.config import describe_validation_error
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.runtime import SECRET_MAX_AGE_S

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
    return _json(exc.status, {"error": exc.reason, "started": []})


def _settings() -> WebhookSettings:
    raw = runtime.settings().webhook_settings
    return WebhookSettings.model_validate_json(raw) if raw else WebhookSettings()


def _secret(arn: str) -> dict[str, str]:
    if not arn:
        raise RuntimeError("the webhook's secret ARN is not configured")  # a deployment fault: 5xx, not the caller's
    value = parameters.get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_S)
    return {str(k): str(v) for k, v in dict(value).items()}


def _body(settings: WebhookSettings) -> bytes:
    event = app.current_event
    raw = event.body or ""
    if len(raw) > settings.max_body_bytes * 4 // 3 + 4:  # refuse before even decoding
        raise Refused(413, f"body: larger than {settings.max_body_bytes} bytes (got {len(raw)} characters)")
    try:
        body = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError) as exc:
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
        config=IdempotencyConfig(expires_after_seconds=ttl_s),
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
    intake = Intake(
        runtime.targets(), guard=runtime.remediation_guard(), audit=runtime.audit_log(),
        starter=SfnRemediationStarter(runtime.client("stepfunctions"), config.remediation_state_machine_arn),
        notify=_notify, escalate=_escalate, now=datetime.now(UTC),
    )  # fmt: skip
    once = _once(config.ops_table, settings.dedupe_ttl_s, id(runtime.client("dynamodb")))
    # an in-progress record expires with this invocation (a crashed one does not block the alert's re-send)
    _idempotency_config(settings.dedupe_ttl_s).register_lambda_context(app.lambda_context)
    request_id = app.current_event.request_context.request_id
    answers: list[dict[str, Any]] = []
    for alert in alerts:
        metrics.add_metric(name="AlertsReceived", unit=MetricUnit.Count, value=1)
        if alert.status == "resolved":
            answers.append(intake.resolved(alert).model_dump())
            continue

        def work(alert: Alert = alert) -> dict[str, Any]:
            return intake.firing(alert).model_dump() | {"decided_in": request_id}

        try:
            decided = once(alert_key={"key": alert.dedupe_key}, work=work)
        except IdempotencyAlreadyInProgressError:
            decided = AlertDecision(
                alertname=alert.alertname, fingerprint=alert.fingerprint, status=alert.status,
                outcome="deduplicated", reason="the same alert is being decided by another delivery",
            ).model_dump()  # fmt: skip
        if decided.pop("decided_in", request_id) != request_id:
            decided |= {"outcome": "deduplicated", "reason": f"already {decided['outcome']} for this alert"}
        elif decided["outcome"] == "started":
            metrics.add_metric(name="RemediationsStarted", unit=MetricUnit.Count, value=1)
        answers.append(decided)
    return answers


def _accept(alerts: list[Alert], settings: WebhookSettings) -> Response[str]:
    answers = _decide_all(alerts, settings)
    logger.info("webhook accepted", extra={"alerts": len(alerts), "outcomes": [a["outcome"] for a in answers]})
    return _json(202, {"alerts": answers})


@app.post(
    "/alertmanager",
    summary="An Alertmanager delivery (webhook payload version 4)",
    description="Bearer token or basic auth from the deployment's Alertmanager secret; each firing alert is decided "
    "once per fingerprint + startsAt.",
    responses=route_responses(),
)
def alertmanager() -> Response[str]:
    settings = _settings()
    body = _body(settings)
    headers = app.current_event.headers
    _authenticate(lambda: check_alertmanager(headers, _secret(runtime.settings().alertmanager_secret_arn), settings))
    return _accept(_parse(AlertmanagerPayload, body), settings)


@app.post(
    "/grafana",
    summary="A Grafana unified alerting delivery (webhook contact point)",
    description="HMAC-SHA256 signature of timestamp:body with the deployment's Grafana secret, within the replay "
    "window.",
    responses=route_responses(),
)
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
