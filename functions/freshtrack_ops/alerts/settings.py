"""The deployment's ``webhook`` section: how the alert endpoint authenticates and limits its callers.

The secrets themselves live in Secrets Manager (created by the stack); only their names are configuration.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: an HTTP header name (RFC 9110 token), as Grafana's contact point takes it
HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
Header = Annotated[str, StringConstraints(pattern=HEADER_PATTERN)]


class WebhookSettings(BaseModel):
    """The alert webhook endpoint (docs/remediation.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True, description="Off: no API, no webhook secrets (the remediation workflow still runs by hand)."
    )
    alertmanager_auth: Literal["bearer", "basic"] = Field(
        default="bearer",
        description=(
            "How Alertmanager authenticates: `http_config.authorization` with the secret's `token` "
            "(bearer), or `http_config.basic_auth` with its `username`/`password` (basic)."
        ),
    )
    grafana_signature_header: Header = Field(
        default="X-Grafana-Alerting-Signature",
        description=(
            "Where Grafana's contact point puts the hex HMAC-SHA256 of `timestamp:body`. Set it in the "
            "contact point: Grafana's own fallback for an empty field is `X-Grafana-Alert-Signature`, "
            "not the placeholder its form shows."
        ),
    )
    grafana_timestamp_header: Annotated[str, StringConstraints(pattern=f"^$|{HEADER_PATTERN}")] = Field(
        default="X-Grafana-Alerting-Signature-Timestamp",
        description=(
            "Where Grafana puts the timestamp (Unix seconds). Empty: Grafana sends none and signs the "
            "body alone, so there is no replay window (a replayed alert still starts at most once, by "
            "the dedupe record)."
        ),
    )
    replay_window_s: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="A Grafana delivery whose timestamp is further than this from now is a replay (403).",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=6_000_000, description="Bodies above this are refused with 413 before parsing."
    )
    throttle_rate_per_s: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description=(
            "The HTTP API stage's steady throttling rate: callers past it get 429 and retry; it caps "
            "the Lambda concurrency an alert storm can take."
        ),
    )
    throttle_burst: int = Field(default=200, ge=1, le=5_000, description="The HTTP API stage's throttling burst.")
    dedupe_ttl_s: int = Field(
        default=7 * 86_400,
        ge=300,
        le=90 * 86_400,
        description=("How long a delivered alert (fingerprint + startsAt) is remembered: its re-sends start nothing."),
    )
