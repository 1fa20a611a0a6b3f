"""Rewrite docs/webhook-openapi.json, the alert webhook's OpenAPI document, from the handler's resolver and the
payload models (``make docs``; tests/unit/test_webhook_openapi.py fails while the file is stale)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freshtrack_ops.handlers.alerts import openapi_document

DOC = Path(__file__).resolve().parents[1] / "docs" / "webhook-openapi.json"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DOC.write_text(render(openapi_document()), encoding="utf-8")


if __name__ == "__main__":
    main()
