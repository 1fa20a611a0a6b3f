"""The webhook's OpenAPI document: paths and responses from the resolver's routes (powertools), request and answer
bodies from the same pydantic models the handler parses with. tools/update_webhook_openapi.py writes it to
docs/webhook-openapi.json; a unit test fails when that file is stale."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from freshtrack_ops.alerts.intake import AlertDecision
from freshtrack_ops.alerts.models import AlertmanagerPayload, GrafanaPayload

#: the answer to every accepted delivery
ANSWER_SCHEMA = "WebhookAnswer"
ERROR_SCHEMA = "WebhookRefusal"


class WebhookAnswer(BaseModel):
    """202: one decision per alert of the delivery."""

    alerts: list[AlertDecision]


class WebhookRefusal(BaseModel):
    """4xx: why nothing was started."""

    error: str
    started: list[str]


REFUSALS = {
    400: "The body is not this route's format (the error names the field and value)",
    401: "No credentials (Alertmanager) or no signature and timestamp (Grafana)",
    403: "Wrong credentials or signature, or a Grafana timestamp outside the replay window",
    413: "Body larger than webhook.max_body_bytes (refused before it is parsed)",
    415: "Content-Type is not application/json",
}


def route_responses() -> dict[int, OpenAPIResponse]:
    """The ``responses`` of each route (given to the resolver's route decorators)."""
    ref = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    responses: dict[int, OpenAPIResponse] = {
        202: {
            "description": "Accepted: each alert decided (started, deduplicated, resolved, ignored, suppressed, "
            "notified); remediations run asynchronously",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ANSWER_SCHEMA}"}}},
        },
    }
    responses |= {code: {"description": text, "content": ref} for code, text in REFUSALS.items()}  # type: ignore[typeddict-item]
    responses[429] = {"description": "Throttled by API Gateway (webhook.throttle_rate_per_s/throttle_burst): retry"}
    return responses


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (AlertmanagerPayload, GrafanaPayload, WebhookAnswer, WebhookRefusal):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    return schemas


def openapi_document() -> dict[str, Any]:
    from freshtrack_ops.handlers.alerts import app

    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="FreshTrack Ops alert webhook",
            version="1",
            summary="Alertmanager (payload v4) and Grafana (unified alerting) deliveries that start remediations",
        )
    )
    document["components"] = {
        "schemas": _schemas(),
        "securitySchemes": {
            "alertmanagerBearer": {"type": "http", "scheme": "bearer"},
            "alertmanagerBasic": {"type": "http", "scheme": "basic"},
            "grafanaSignature": {
                "type": "apiKey", "in": "header", "name": "X-Grafana-Alerting-Signature",
                "description": "hex HMAC-SHA256 of `timestamp:body` with the secret's hmac_key; the timestamp (Unix "
                "seconds) in X-Grafana-Alerting-Signature-Timestamp, within webhook.replay_window_s of now",
            },
        },
    }  # fmt: skip
    for path, model, security in (
        ("/alertmanager", AlertmanagerPayload, [{"alertmanagerBearer": []}, {"alertmanagerBasic": []}]),
        ("/grafana", GrafanaPayload, [{"grafanaSignature": []}]),
    ):
        operation = document["paths"][path]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
        operation["security"] = security
    return document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
