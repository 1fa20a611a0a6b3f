"""What the webhook answers (the OpenAPI document's response schemas, docs/webhook-openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from freshtrack_ops.alerts.intake import AlertDecision


class Accepted(BaseModel):
    """202: one decision per alert of the delivery, in its order; remediations run on asynchronously."""

    model_config = ConfigDict(frozen=True)

    alerts: list[AlertDecision]


class Refusal(BaseModel):
    """A 4xx: why, as ``field: message (got value)``; nothing was started."""

    model_config = ConfigDict(frozen=True)

    error: str
    #: always empty: a refused delivery starts nothing
    started: list[str] = Field(default_factory=list, max_length=0)


class GatewayMessage(BaseModel):
    """What API Gateway itself answers: 429 when the stage throttles, 500 when the function failed."""

    model_config = ConfigDict(frozen=True)

    message: str
