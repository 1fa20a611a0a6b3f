"""The deployment's ``chat`` section: an optional Slack-compatible incoming webhook that gets every notification.

The webhook URL is the credential (whoever holds it may post to the channel) and lives in Secrets Manager; only
the secret's name (or none: the stack creates ``freshtrack-ops/<deployment>/chat/webhook``) is configuration.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: a DNS name (lower case) or 127.0.0.1; no port, no wildcard: each allowed host is named
HOST_PATTERN = r"^(127\.0\.0\.1|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
#: a Secrets Manager secret name (the characters it allows)
SECRET_NAME_PATTERN = r"^[A-Za-z0-9/_+=.@-]{1,512}$"  # noqa: S105 - a pattern, not a secret
#: ChatNotify's Lambda timeout (freshtrack_ops.tasks): every attempt and every pause must fit in it, with room
FUNCTION_TIMEOUT_S = 60
#: what one invocation keeps for reading the secret and answering (of FUNCTION_TIMEOUT_S)
RESERVED_S = 10


class ChatSettings(BaseModel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat: POST ``{"text": ...}`` as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description=(
            "On: `ChatNotify` is subscribed to the notification topic and posts every notification to "
            "the webhook in the chat secret. Off: no subscription, no secret, no grant."
        ),
    )
    secret_name: Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)] | None = Field(
        default=None,
        description=(
            "Unset: the stack creates `freshtrack-ops/<name>/chat/webhook` (output `ChatSecretName`). "
            "Set: an existing secret of yours, read by name (encrypted with the account's "
            "`aws/secretsmanager` key, or grant the `ChatNotify` role `kms:Decrypt` on yours). One "
            "webhook shared by several deployments is one such secret."
        ),
        examples=["shared/chat-webhook"],
    )
    allowed_hosts: tuple[Annotated[str, StringConstraints(pattern=HOST_PATTERN)], ...] = Field(
        default=("hooks.slack.com",),
        min_length=1,
        description=(
            "The hosts the URL may name (https only; lower-case DNS names, at least one). A URL edited "
            "in the secret to point elsewhere is refused and nothing is sent. Add your Mattermost's or "
            "Rocket.Chat's host."
        ),
        examples=[["hooks.slack.com", "chat.example.org"]],
    )
    timeout_s: float = Field(
        default=5.0, ge=1, le=20, description="One request's timeout (connect and answer), seconds."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=6,
        description=(
            "Requests per notification (the first and the retries of a 429, a 5xx, a timeout, a refused"
            " connection). `max_attempts` x `timeout_s` plus the pauses must fit in 50 s."
        ),
    )
    backoff_s: float = Field(
        default=1.0, ge=0, le=10, description="The pause before the second attempt, doubled before each later one."
    )
    max_retry_after_s: float = Field(
        default=10.0, ge=0, le=30, description="A 429's `Retry-After` (seconds) is honoured up to this."
    )

    @model_validator(mode="after")
    def _fits_the_function_timeout(self) -> ChatSettings:
        worst = self.worst_case_s()
        if worst > FUNCTION_TIMEOUT_S - RESERVED_S:
            raise ValueError(
                f"chat: max_attempts x timeout_s plus the pauses may take {worst:.0f} s, more than the "
                f"{FUNCTION_TIMEOUT_S - RESERVED_S} s ChatNotify has for them (got max_attempts={self.max_attempts}, "
                f"timeout_s={self.timeout_s}, backoff_s={self.backoff_s}, max_retry_after_s={self.max_retry_after_s})"
            )
        return self

    def pause_s(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1 = the second attempt) when the answer names none."""
        return float(self.backoff_s * 2 ** (retry - 1))

    def worst_case_s(self) -> float:
        """Every attempt timing out, with the longest pause before each retry."""
        pauses = sum(max(self.pause_s(n), self.max_retry_after_s) for n in range(1, self.max_attempts))
        return self.max_attempts * self.timeout_s + pauses
