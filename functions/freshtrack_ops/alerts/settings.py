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

    enabled: bool = True
    #: how Alertmanager authenticates: ``http_config.authorization`` (bearer) or ``http_config.basic_auth``
    alertmanager_auth: Literal["bearer", "basic"] = "bearer"
    #: Grafana's webhook contact point HMAC: the signature header and the timestamp header (signed is
    #: ``timestamp:body``, hex HMAC-SHA256). Set both in the contact point: Grafana's own fallback for an empty
    #: header field is ``X-Grafana-Alert-Signature`` (grafana/alerting http/hmac.go), not the placeholder its form
    #: shows. An empty timestamp header means Grafana sends none and signs the body alone: no replay window then
    #: (a replayed alert is still only ever started once, by the dedupe record).
    grafana_signature_header: Header = "X-Grafana-Alerting-Signature"
    grafana_timestamp_header: Annotated[str, StringConstraints(pattern=f"^$|{HEADER_PATTERN}")] = (
        "X-Grafana-Alerting-Signature-Timestamp"
    )
    #: a Grafana delivery whose timestamp is further than this from now is a replay (403)
    replay_window_s: int = Field(default=300, ge=10, le=3600)
    #: bodies above this are refused with 413 before they are parsed
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=6_000_000)
    #: API Gateway stage throttling (steady rate and burst; callers past it get 429 and retry)
    throttle_rate_per_s: int = Field(default=50, ge=1, le=10_000)
    throttle_burst: int = Field(default=200, ge=1, le=5_000)
    #: how long a delivered alert (fingerprint + startsAt) is remembered: its re-sends start nothing new
    dedupe_ttl_s: int = Field(default=7 * 86_400, ge=300, le=90 * 86_400)
