"""The alert webhook's secrets: their names and the JSON field each holds. The stack creates them under these
names; the local plane creates them in moto under the same names (deployment ``local``) and its IAM enforcer
grants them by name. Pure: no aws_cdk, so the plane imports it cheaply.
"""

from __future__ import annotations

from typing import Literal

WebhookSource = Literal["alertmanager", "grafana"]
WEBHOOK_SOURCES: tuple[WebhookSource, ...] = ("alertmanager", "grafana")
#: the JSON key of each secret's generated value: Alertmanager's bearer token (or basic-auth password), Grafana's
#: HMAC-SHA256 key
SECRET_FIELDS: dict[WebhookSource, str] = {"alertmanager": "token", "grafana": "hmac_key"}
#: the environment variable naming each secret's ARN on the webhook function
SECRET_ENV: dict[WebhookSource, str] = {"alertmanager": "ALERTMANAGER_SECRET_ARN", "grafana": "GRAFANA_SECRET_ARN"}


def webhook_secret_name(deployment: str, source: WebhookSource) -> str:
    """``freshtrack-ops/<deployment>/webhook/<source>`` (the local plane's deployment is ``local``)."""
    return f"freshtrack-ops/{deployment}/webhook/{source}"


def webhook_secret_arn_pattern(partition: str, region: str, account: str, name: str) -> str:
    """The secret named ``name`` in an identity policy: Secrets Manager appends ``-`` and six random characters
    to the name in the ARN (AWS Secrets Manager user guide, "Secret ARN"), so ``secret:<name>-??????``."""
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-??????"
