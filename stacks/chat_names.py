"""The chat webhook's secret: its name and the environment variable naming it. The stack creates it under this
name (unless ``chat.secret_name`` names an existing one); the local plane creates it in moto under the same name
(deployment ``local``) and its IAM enforcer grants it by name. Pure: no aws_cdk, so the plane imports it cheaply.
"""

from __future__ import annotations

#: the environment variable (runtime.Settings.chat_secret_id) naming the secret: its ARN, or the configured name
SECRET_ENV = "CHAT_SECRET_ID"  # noqa: S105 - a variable name, not a secret
SETTINGS_ENV = "CHAT_SETTINGS"


def chat_secret_name(deployment: str) -> str:
    """``freshtrack-ops/<deployment>/chat/webhook`` (the local plane's deployment is ``local``)."""
    return f"freshtrack-ops/{deployment}/chat/webhook"
