"""Inputs and outputs of the retention tasks (protect, rpo)."""

from __future__ import annotations

from pydantic import Field

from freshtrack_ops.fields import HostRef, Strict


class RetentionEvent(Strict):
    """Input of both tasks: ``{}`` for every target, or ``{"host": "<id>"}`` for one."""

    host: HostRef | None = Field(default=None, description="Limit the run to this target.")


class HostRetention(Strict):
    """What the protect task did for one host (backup ids newest first)."""

    protected: tuple[str, ...]
    expiring: tuple[str, ...]
    #: backups an operator tagged with another retention value (e.g. ``pinned``): never touched
    pinned: tuple[str, ...] = ()
    #: catalog entries removed because their dump no longer exists
    forgotten: tuple[str, ...] = ()
    reasons: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: object keys whose retention tag this run changed
    retagged: tuple[str, ...] = ()
    #: manifest keys of existing dumps that have no manifest object (reported, not fatal)
    missing_manifests: tuple[str, ...] = ()


class PolicyOut(Strict):
    keep_last_verified: int
    keep_weekly: int
    keep_monthly: int


class ProtectOutput(Strict):
    policy: PolicyOut
    hosts: dict[str, HostRetention]


class HostRpo(Strict):
    """Age of the newest backup whose test restore passed; None when there is none."""

    age_hours: float | None
    backup_id: str | None
    finished_at: str | None
    #: the value emitted as the metric (the sentinel when there is no verified backup)
    metric_value: float


class RpoOutput(Strict):
    metric: str
    hosts: dict[str, HostRpo]
