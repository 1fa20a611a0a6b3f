"""The events and results of the db-pool and rotate-secrets host steps (small: names, sizes, states; no values)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.fields import HostRef, Strict

ServiceState = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Rotation = Literal["rotate", "revert", "commit"]


class PoolEvent(Strict):
    """read: the value only; set: ``size`` (required); restore: ``size`` back, or the line removed when None (the
    file had none before)."""

    host: HostRef
    action: Literal["read", "set", "restore"]
    size: int | None = Field(default=None, ge=1, le=1000)


class PoolResult(Strict):
    """``previous``: the value before (None: the file had no DB_POOL_SIZE line: the app's default applied);
    ``size``: the value now (None: no line; a read leaves it as it was)."""

    previous: int | None
    size: int | None
    commands: list[str]
    after: dict[str, ServiceState]


class RotationEvent(Strict):
    host: HostRef
    rotation: Rotation


class RotationResult(Strict):
    """What was rotated (names only), which .env.production keys changed, the services after."""

    rotation: Rotation
    rotated: list[Literal["postgres_password", "jwt_secret"]] = Field(default_factory=list)
    env_updated: list[Annotated[str, StringConstraints(pattern=r"^[A-Z_]{1,40}$")]] = Field(default_factory=list)
    commands: list[str]
    after: dict[str, ServiceState]
