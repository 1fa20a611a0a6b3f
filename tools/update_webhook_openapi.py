"""Write docs/webhook-openapi.json from the webhook handler's routes and models (``make docs`` runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

from freshtrack_ops.alerts.openapi import render

TARGET = Path(__file__).resolve().parent.parent / "docs" / "webhook-openapi.json"

if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")
