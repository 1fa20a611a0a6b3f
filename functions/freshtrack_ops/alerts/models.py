"""The two webhook formats, strict: Prometheus Alertmanager's payload version 4 (Alertmanager 0.25) and Grafana unified
alerting's webhook payload (version 1). Both reduce to one ``Alert``.

Unknown fields are refused (extra="forbid"): a body of neither format is a 400, never a guess. Grafana adds optional
per-alert fields over its versions; those its docs list are declared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from freshtrack_ops.remediation.models import AlertSource

Labels = dict[Annotated[str, StringConstraints(max_length=256)], Annotated[str, StringConstraints(max_length=4096)]]
Text = Annotated[str, StringConstraints(max_length=16_384)]
Url = Annotated[str, StringConstraints(max_length=4096)]
#: an alert batch larger than this is refused (Alertmanager's max_alerts truncates above it; storms arrive in many)
MAX_ALERTS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertmanagerAlert(_Strict):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - the wire format's names
    endsAt: datetime  # noqa: N815
    generatorURL: Url = ""  # noqa: N815
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]


class _Group(_Strict):
    """What both formats say of the alert group (Grafana's payload extends Alertmanager's)."""

    groupKey: Text  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: Text
    groupLabels: Labels  # noqa: N815
    commonLabels: Labels  # noqa: N815
    commonAnnotations: Labels  # noqa: N815
    externalURL: Url  # noqa: N815


class AlertmanagerPayload(_Group):
    """https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    version: Literal["4"]
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)


class GrafanaAlert(AlertmanagerAlert):
    """Grafana's ExtendedAlert (grafana/alerting templates/template_data.go): the Alertmanager alert plus links and
    values; ``imageURL``, ``embeddedImage``, ``orgId`` and ``enrichments`` are omitted when empty, ``values`` is
    null when the rule has none."""

    silenceURL: Url = ""  # noqa: N815
    dashboardURL: Url = ""  # noqa: N815
    panelURL: Url = ""  # noqa: N815
    values: dict[str, float | None] | None = None
    valueString: Text = ""  # noqa: N815
    imageURL: Url = ""  # noqa: N815
    embeddedImage: str = ""  # noqa: N815 - a base64 image (email only in practice); the body limit bounds it
    orgId: int | None = None  # noqa: N815
    #: Grafana 12's alert enrichments (free-form JSON, unused here)
    enrichments: JsonValue = None


class GrafanaPayload(_Group):
    """https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/"""

    version: Literal["1"]
    alerts: list[GrafanaAlert] = Field(max_length=MAX_ALERTS)
    orgId: int  # noqa: N815
    title: Text = ""
    #: "alerting" when any alert of the group fires, else "ok" (receivers/webhook/v1/webhook.go; the legacy
    #: states no_data/paused/pending belong to Grafana's old dashboard alerting, not to this payload)
    state: Literal["alerting", "ok"]
    message: Text = ""


class Alert(_Strict):
    """One alert, whichever format brought it."""

    source: AlertSource
    alertname: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    fingerprint: str
    starts_at: datetime

    @property
    def dedupe_key(self) -> str:
        """fingerprint + startsAt: one firing episode of one alert (DESIGN section 6)."""
        return f"{self.source}-{self.fingerprint}-{int(self.starts_at.timestamp())}"

    @property
    def summary(self) -> str:
        text = self.annotations.get("summary") or self.annotations.get("description") or ""
        return " ".join(text.split())[:300]


def alerts_of(payload: AlertmanagerPayload | GrafanaPayload) -> list[Alert]:
    source: AlertSource = "grafana" if isinstance(payload, GrafanaPayload) else "alertmanager"
    return [
        Alert(
            source=source,
            alertname=alert.labels.get("alertname", ""),
            status=alert.status,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            fingerprint=alert.fingerprint,
            starts_at=alert.startsAt,
        )
        for alert in payload.alerts
    ]
