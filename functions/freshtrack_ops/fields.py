"""The base model and the field types every workflow's models share (ids, references, free text).

Apart from models.py (the backup and restore workflows' models, which re-exports these): a module that needs a
host reference or the strict base does not load the backup and restore models with them (cold starts)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from freshtrack_ops.config import HOST_ID_PATTERN, SERVICE_PATTERN

Trigger = Literal["schedule", "console", "webhook", "pre-update", "pre-restore", "pre-rollback", "pre-maintenance"]
HostRef = Annotated[str, StringConstraints(pattern=HOST_ID_PATTERN)]
ServiceRef = Annotated[str, StringConstraints(pattern=SERVICE_PATTERN)]
Reason = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
