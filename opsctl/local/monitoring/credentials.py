"""The webhook's secrets, as the stack creates them: in the plane's Secrets Manager, random per plane.

The Alertmanager secret is ``{"token": ...}`` (the bearer token Alertmanager sends), the Grafana secret
``{"hmac_key": ...}`` (the key of the contact point's HMAC-SHA256 over ``timestamp:body``). The tasks learn
only their ARNs (``settings``); the values reach Alertmanager through a mode-600 credentials file and tests
through ``LocalPlane.webhook``/``sign_grafana``, never a log or a command line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from freshtrack_ops.alerts.settings import WebhookSettings

ALERTMANAGER_SECRET = "freshtrack-ops/local/webhook/alertmanager"  # noqa: S105 - the name, not the value
GRAFANA_SECRET = "freshtrack-ops/local/webhook/grafana"  # noqa: S105 - the name, not the value


@dataclass(frozen=True)
class WebhookCredentials:
    alertmanager_secret_arn: str
    grafana_secret_arn: str
    token: str = field(repr=False)
    hmac_key: str = field(repr=False)
    settings: WebhookSettings

    @classmethod
    def create(cls, client: Callable[[str], Any], settings: WebhookSettings | None = None) -> WebhookCredentials:
        token, hmac_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        sm = client("secretsmanager")
        alertmanager = sm.create_secret(
            Name=ALERTMANAGER_SECRET,
            Description="FreshTrack Ops (local): Alertmanager's bearer token for the alert webhook",
            SecretString=json.dumps({"token": token}),
        )["ARN"]
        grafana = sm.create_secret(
            Name=GRAFANA_SECRET,
            Description="FreshTrack Ops (local): the HMAC key of Grafana's webhook contact point",
            SecretString=json.dumps({"hmac_key": hmac_key}),
        )["ARN"]
        return cls(alertmanager, grafana, token, hmac_key, settings or WebhookSettings())

    def task_settings(self, remediation_state_machine_arn: str) -> dict[str, str]:
        """What the tasks are configured with (``TaskSettings.apply``)."""
        return {
            "alertmanager_secret_arn": self.alertmanager_secret_arn,
            "grafana_secret_arn": self.grafana_secret_arn,
            "remediation_state_machine_arn": remediation_state_machine_arn,
            "webhook_settings": self.settings.model_dump_json(),
        }

    def alertmanager_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def sign_grafana(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The signature and timestamp headers of a Grafana delivery of ``body``: hex HMAC-SHA256 over
        ``timestamp:body`` (``timestamp``: now, in Unix seconds, unless given)."""
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = hmac.new(self.hmac_key.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {self.settings.grafana_signature_header: signature, self.settings.grafana_timestamp_header: str(stamp)}
