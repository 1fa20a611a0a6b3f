"""Which backups must not expire: a pure function of the catalog, the policy and the clock.

Only backups whose test restore PASSED are ever protected: an unverified backup is a hope, a failed one is
known bad. Protected are

- the newest ``keep_last_verified`` passed backups (the floor that survives backups stopping for weeks);
- with ``keep_weekly`` > 0, the newest passed backup of each of the last ``keep_weekly`` ISO weeks (UTC),
  the current week included;
- with ``keep_monthly`` > 0, the newest passed backup of each of the last ``keep_monthly`` calendar months
  (UTC), the current month included.

Weekly and monthly periods are calendar windows that end at ``now``: a weekly copy older than the window
is no longer protected (the last-verified floor still is). Ordering is by ``finished_at`` parsed as a time
(not as a string), ties broken by backup id, so the selection is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from freshtrack_ops.ports import CatalogEntry

PASSED = "passed"


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last_verified: int = 7
    keep_weekly: int = 0
    keep_monthly: int = 0

    def __post_init__(self) -> None:
        for name in ("keep_last_verified", "keep_weekly", "keep_monthly"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")


def parse_time(value: str, *, what: str = "time") -> datetime:
    """An ISO 8601 time as an aware datetime (naive values are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{what}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def newest_first(entries: Iterable[CatalogEntry]) -> list[CatalogEntry]:
    """Entries sorted newest first by finished_at (as a time), ties by backup id (descending)."""
    return sorted(
        entries,
        key=lambda e: (parse_time(e.finished_at, what=f"backup {e.backup_id}: finished_at"), e.backup_id),
        reverse=True,
    )


def _week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _month(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.year}-{moment.month:02d}"


def _last_weeks(now: datetime, count: int) -> list[str]:
    return [_week(now - timedelta(weeks=i)) for i in range(count)]


def _last_months(now: datetime, count: int) -> list[str]:
    now = now.astimezone(UTC)
    index = now.year * 12 + now.month - 1
    return [f"{(index - i) // 12}-{(index - i) % 12 + 1:02d}" for i in range(count)]


def protection_reasons(
    entries: Iterable[CatalogEntry], policy: RetentionPolicy, now: datetime
) -> dict[str, tuple[str, ...]]:
    """backup id -> why it is protected (``last-verified``, ``weekly 2024-W07``, ``monthly 2024-02``)."""
    now = _aware(now)
    passed = newest_first(e for e in entries if e.verification_status == PASSED)
    reasons: dict[str, list[str]] = {}

    def protect(entry: CatalogEntry, reason: str) -> None:
        reasons.setdefault(entry.backup_id, []).append(reason)

    for entry in passed[: policy.keep_last_verified]:
        protect(entry, "last-verified")
    for label, periods, period_of in (
        ("weekly", _last_weeks(now, policy.keep_weekly), _week),
        ("monthly", _last_months(now, policy.keep_monthly), _month),
    ):
        wanted = set(periods)
        for entry in passed:  # newest first: the first entry seen in a period is its newest
            period = period_of(parse_time(entry.finished_at))
            if period in wanted:
                wanted.discard(period)
                protect(entry, f"{label} {period}")
    return {backup_id: tuple(why) for backup_id, why in reasons.items()}


def select_protected(entries: Iterable[CatalogEntry], policy: RetentionPolicy, now: datetime) -> set[str]:
    """The ids of the backups that must not expire (see the module docstring)."""
    return set(protection_reasons(entries, policy, now))
