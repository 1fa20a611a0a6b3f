"""The embedded local plane: moto as AWS plus a local FreshTrack host (PostgreSQL, app repo, docker shim, sshd)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsctl.local.plane import LocalPlane

__all__ = ["LocalPlane"]


def __getattr__(name: str) -> Any:
    # Lazy, so the docker shim (which imports opsctl.local.*) never pays for moto and boto3.
    if name == "LocalPlane":
        from opsctl.local.plane import LocalPlane

        return LocalPlane
    raise AttributeError(name)
