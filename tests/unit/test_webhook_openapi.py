"""docs/webhook-openapi.json is what the handler's routes and models say now (tools/update_webhook_openapi.py)."""

from __future__ import annotations

import json
from pathlib import Path

from freshtrack_ops.alerts.openapi import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhook-openapi.json"


def test_the_openapi_document_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "stale: run `make docs` (tools/update_webhook_openapi.py)"


def test_the_document_names_both_routes_their_bodies_and_every_refusal() -> None:
    document = json.loads(render())
    assert sorted(document["paths"]) == ["/alertmanager", "/grafana"]
    for path, body in (("/alertmanager", "AlertmanagerPayload"), ("/grafana", "GrafanaPayload")):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(body)
        assert {"202", "400", "401", "403", "413", "415", "429"} <= set(operation["responses"])
    assert document["components"]["schemas"]["AlertmanagerPayload"]["additionalProperties"] is False
