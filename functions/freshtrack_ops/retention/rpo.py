"""RPO guard: per target, the age of the newest backup whose test restore passed.

The metric ``NewestVerifiedBackupAgeHours`` (namespace FreshTrackOps, dimension ``host``) is emitted per
target; a target without any verified backup reports ``age_hours: None`` and emits ``SENTINEL_AGE_HOURS``
so that the alarm fires for it too. The age runs from the backup's ``finished_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.retention.models import HostRpo
from freshtrack_ops.retention.policy import PASSED, newest_first, parse_time

METRIC_NAME = "NewestVerifiedBackupAgeHours"
NAMESPACE = "FreshTrackOps"
#: emitted when a target has no verified backup at all: far above any sane alarm threshold
SENTINEL_AGE_HOURS = 1_000_000.0


def newest_verified(entries: Iterable[CatalogEntry]) -> CatalogEntry | None:
    passed = newest_first(e for e in entries if e.verification_status == PASSED)
    return passed[0] if passed else None


def rpo_of(entries: Iterable[CatalogEntry], now: datetime) -> HostRpo:
    newest = newest_verified(entries)
    if newest is None:
        return HostRpo(age_hours=None, backup_id=None, finished_at=None, metric_value=SENTINEL_AGE_HOURS)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    # a clock a little behind the host's must not report a negative age
    age = max(0.0, (now - parse_time(newest.finished_at)).total_seconds() / 3600)
    return HostRpo(
        age_hours=round(age, 4), backup_id=newest.backup_id, finished_at=newest.finished_at, metric_value=age
    )
