"""What the daily check's checks build: the findings, the figures and the thresholds they used."""

from __future__ import annotations

from dataclasses import dataclass, field

from freshtrack_ops.daily.models import LEVEL_RANK, Finding, Level
from freshtrack_ops.daily.settings import Band


@dataclass(frozen=True)
class HealthAnswer:
    """The HostHealth step's outcome: ``ok`` with the URL and status, or the error it failed with."""

    ok: bool
    summary: str


@dataclass(frozen=True)
class BackupState:
    """The newest verified backup (None: there is none)."""

    backup_id: str | None
    age_hours: float | None
    size_bytes: int | None


@dataclass
class Judgement:
    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, str] = field(default_factory=dict)

    def add(self, check: str, level: Level, summary: str, samples: tuple[str, ...] = ()) -> None:
        self.findings.append(Finding(check=check, level=level, summary=summary, samples=samples))

    def figure(self, name: str, value: float | None) -> None:
        if value is not None:
            self.figures[name] = round(float(value), 3)

    @property
    def verdict(self) -> Level:
        return max((f.level for f in self.findings), key=LEVEL_RANK.__getitem__, default="ok")

    def ordered(self) -> tuple[Finding, ...]:
        """Worst first; the check order within a level (sorted is stable)."""
        return tuple(sorted(self.findings, key=lambda f: -LEVEL_RANK[f.level]))


def level_of(value: float, band: Band) -> Level:
    if value >= band.critical:
        return "critical"
    if value >= band.warning:
        return "warning"
    return "ok"


def band_text(band: Band) -> str:
    return f"{band.warning:g}/{band.critical:g}"
