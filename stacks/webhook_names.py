"""The alert webhook's secrets: their names and the JSON field each holds. The stack creates them under these
names; the local plane creates them in moto under the same names (deployment ``local``) and its IAM enforcer
grants them by name. Pure: no aws_cdk, so the plane imports it cheaply.
"""

from __future__ import annotations

from typing import Literal

WebhookSource = Literal["alertmanager", "grafana"]
WEBHOOK_SOURCES: tuple[WebhookSource, ...] = ("alertmanager", "grafana")
#: the JSON key of each secret's generated value: Alertmanager's bearer token, Grafana's HMAC-SHA256 key
SECRET_FIELDS: dict[WebhookSource, str] = {"alertmanager": "token", "grafana": "hmac_key"}
#: with ``webhook.alertmanager_auth: basic`` Alertmanager's secret is ``{"username": ..., "password": <generated>}``
BASIC_AUTH_USERNAME = "alertmanager"
BASIC_AUTH_FIELD = "password"
#: the environment variable naming each secret's ARN on the webhook function
SECRET_ENV: dict[WebhookSource, str] = {"alertmanager": "ALERTMANAGER_SECRET_ARN", "grafana": "GRAFANA_SECRET_ARN"}


def secret_shape(source: WebhookSource, alertmanager_auth: str = "bearer") -> tuple[dict[str, str], str]:
    """What a webhook secret holds: its fixed fields, and the key of the generated value added to them
    (``{"token"}``, ``{"username": "alertmanager", "password"}`` for basic auth, ``{"hmac_key"}``)."""
    if source == "alertmanager" and alertmanager_auth == "basic":
        return {"username": BASIC_AUTH_USERNAME}, BASIC_AUTH_FIELD
    return {}, SECRET_FIELDS[source]


def webhook_secret_name(deployment: str, source: WebhookSource) -> str:
    """``freshtrack-ops/<deployment>/webhook/<source>`` (the local plane's deployment is ``local``)."""
    return f"freshtrack-ops/{deployment}/webhook/{source}"


def webhook_secret_arn_pattern(partition: str, region: str, account: str, name: str) -> str:
    """The secret named ``name`` in an identity policy: Secrets Manager appends ``-`` and six random characters
    to the name in the ARN (AWS Secrets Manager user guide, "Secret ARN"), so ``secret:<name>-??????``."""
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-??????"
