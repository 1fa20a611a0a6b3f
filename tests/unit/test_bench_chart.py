"""bench/chart.py: which targets make the summary, the value it reads from each, and the chart it draws."""

from __future__ import annotations

import json
from pathlib import Path

from bench import chart
from tests.png_pixels import size


def _results(tmp_path: Path, name: str, targets: list[dict[str, str]]) -> None:
    (tmp_path / f"{name}.json").write_text(json.dumps({"targets": targets}), encoding="utf-8")


def test_each_target_with_a_limit_yields_its_value_in_the_same_unit(tmp_path: Path) -> None:
    _results(
        tmp_path,
        "backup",
        [
            {"target": "streamed ≤ 1.05 x raw `pg_dump`", "measured": "1.180 x", "result": "**MISS**"},
            {"target": "restore ≤ 1.10 x local", "measured": "39.1 s / 29.2 s = 1.338 x", "result": "**MISS**"},
            {
                "target": "Lambda peak ≤ 128 MB",
                "measured": "67.3 MB after imports + 26.0 MB = 93.3 MB",
                "result": "PASS",
            },
            {"target": "(informative) RSS ≤ 128 MB", "measured": "+206.9 MB", "result": "**MISS**"},
            {"target": "every sha256 equals its manifest", "measured": "12 backups", "result": "PASS"},
        ],
    )
    _results(
        tmp_path, "startup", [{"target": "import ≤ 0.30 s", "measured": "0.284 s (median of 3)", "result": "PASS"}]
    )

    rows = chart.ratio_rows(tmp_path)

    assert [(r.benchmark, r.measured, r.limit, r.unit) for r in rows] == [
        ("backup", 1.18, 1.05, "x"),
        ("backup", 1.338, 1.1, "x"),
        ("backup", 93.3, 128.0, "MB"),
        ("startup", 0.284, 0.3, "s"),
    ]
    assert [r.passed for r in rows] == [False, False, True, True]
    table = chart.table(rows)
    assert table.count("**MISS**") == 2 and "| 0.73 |" in table


def test_the_chart_is_a_png_with_a_row_per_target(tmp_path: Path) -> None:
    rows = [chart.RatioRow("backup", f"target {i} ≤ 1.05 x", 1.0 + i / 10, 1.05) for i in range(6)]
    few, many = tmp_path / "few.png", tmp_path / "many.png"
    chart.write_png(rows[:2], few)
    chart.write_png(rows, many)
    (w_few, h_few), (w_many, h_many) = size(few.read_bytes()), size(many.read_bytes())
    assert w_few == w_many and h_many > h_few
