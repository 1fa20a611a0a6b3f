"""One picture of every target with a numeric limit (a ratio ``≤ 1.05 x``, seconds ``≤ 0.30 s``, memory
``≤ 128 MB``): each measured value as a fraction of its limit (1.0 = exactly on target), from the results JSONs of
the last runs, and the same rows as a table (docs/performance.md's summary)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``≤ 1.05 x`` (or ``s``, ``MB``) in a target's text; the measured value is the result of a sum or quotient
#: (``... = 1.338 x``) when the ``measured`` text shows one, else its first number in the same unit
_LIMIT = re.compile(r"≤ ([0-9]+(?:\.[0-9]+)?) (x|s|MB)(?![A-Za-z])")
_NUMBER = r"\+?([0-9]+(?:\.[0-9]+)?) {unit}(?![A-Za-z])"
RESULTS = ("backup", "restore", "startup", "update", "dr")


@dataclass(frozen=True)
class RatioRow:
    benchmark: str
    target: str
    measured: float
    limit: float
    unit: str = "x"

    @property
    def share(self) -> float:
        return self.measured / self.limit

    @property
    def passed(self) -> bool:
        return self.measured <= self.limit


def ratio_rows(results_dir: Path) -> list[RatioRow]:
    """The targets of ``RESULTS`` that state a numeric limit and measured a value in its unit (informative rows
    left out)."""
    rows: list[RatioRow] = []
    for name in RESULTS:
        path = results_dir / f"{name}.json"
        if not path.exists():
            continue
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        # restore.json before issue 15 had one "target", not a list
        for target in data.get("targets") or ([data["target"]] if "target" in data else []):
            text, measured = str(target.get("target", "")), str(target.get("measured", ""))
            limit = _LIMIT.search(text)
            if limit is None or text.startswith("(informative)"):
                continue
            unit = re.escape(limit.group(2))
            value = re.search("= " + _NUMBER.format(unit=unit), measured) or re.search(
                _NUMBER.format(unit=unit), measured
            )
            if value is None:
                continue
            rows.append(RatioRow(name, text, float(value.group(1)), float(limit.group(1)), limit.group(2)))
    return rows


def table(rows: list[RatioRow]) -> str:
    lines = ["| benchmark | target | measured | of the limit | result |", "|---|---|---|---|---|"]
    for row in rows:
        verdict = "PASS" if row.passed else "**MISS**"
        lines.append(f"| {row.benchmark} | {row.target} | {row.measured:g} {row.unit} | {row.share:.2f} | {verdict} |")
    return "\n".join(lines)


def write_png(rows: list[RatioRow], path: Path) -> None:
    """Horizontal bars of measured / limit, the limit at 1.0; green at or under it, red over."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    from matplotlib import pyplot as plt

    height = max(2.5, 0.42 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(11, height), dpi=110)
    labels = [_short(f"{row.benchmark}: {row.target}") for row in rows]
    shares = [row.share for row in rows]
    colours = ["#2e7d32" if row.passed else "#c62828" for row in rows]
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, shares, color=colours)
    ax.axvline(1.0, color="#333333", linestyle="--", linewidth=1)
    for pos, row in zip(positions, rows, strict=True):
        ax.text(row.share + 0.02, pos, f"{row.measured:g} {row.unit} (limit {row.limit:g})", va="center", fontsize=8)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel("measured / limit (left of the dashed line: target met)")
    ax.set_xlim(0, max([*shares, 1.0]) * 1.35)
    ax.set_title("FreshTrack Ops benchmarks: every target with a limit (bench/results/*.json)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
