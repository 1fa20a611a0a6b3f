"""The daily report's HTML page (freshtrack_ops.daily.html): escaped, self-contained, charts that show gaps.

The page is written as well-formed XML (void elements closed, only XML's entities), so these tests read it with
ElementTree: a stray ``<script>`` or an unescaped quote would be a parse error or an element, not a substring.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from freshtrack_ops.daily.html import CHARTS, LEVEL_COLOURS, human_bytes, render_report
from freshtrack_ops.daily.models import DailyReport, Finding, HistoryPoint
from freshtrack_ops.daily.svg_chart import BOTTOM, HEIGHT, TOP, nice_scale
from tools.render_sample_report import sample_report

PLOT_BOTTOM = HEIGHT - BOTTOM
ATTACK = "<script>alert(1)</script>"


def _report(history: tuple[HistoryPoint, ...] = (), **changes: object) -> DailyReport:
    fields: dict[str, object] = {
        "target": "demo",
        "domain": "app.example.com",
        "date": "2025-06-30",
        "generated_at": "2025-06-30T07:00:41Z",
        "execution_id": "exec-1",
        "verdict": "ok",
        "findings": (Finding(check="health", level="ok", summary="200"),),
        "figures": {"DiskUsedPercent": 60.0, "BackendErrors": 2.0},
        "history": history,
        "thresholds": {"disk_percent": "70/85", "memory_percent": "80/95", "backup_age_hours": "25/26"},
    }
    fields.update(changes)
    return DailyReport.model_validate(fields)


def _days(n: int, end: str = "2025-06-30") -> list[str]:
    last = date.fromisoformat(end)
    return [(last - timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def _parse(page: str) -> ET.Element:
    return ET.fromstring(page.split("\n", 1)[1])  # after <!DOCTYPE html>


def _charts(root: ET.Element) -> dict[str, ET.Element]:
    return {svg.attrib["data-figure"]: svg for svg in root.iter("svg") if svg.get("class") == "chart"}


def _points(svg: ET.Element, figure: str) -> list[ET.Element]:
    return svg.findall(f".//g[@data-series='{figure}']/circle")


def _moves(svg: ET.Element, colour: str) -> int:
    """How many separate segments the line of this colour has (each starts with M)."""
    paths = [p for p in svg.iter("path") if p.get("stroke") == colour]
    assert len(paths) == 1
    return paths[0].attrib["d"].count("M")


def test_report_text_is_escaped_everywhere() -> None:
    """A log sample (and any other text) holding markup stays text: no element, no attribute breaks out."""
    report = _report(
        domain=f"app.example.com{ATTACK}",
        execution_id=f'x" onload="alert(1){ATTACK}',
        verdict="warning",
        findings=(Finding(check=f"logs.{ATTACK}", level="warning", summary=f"'quoted' & {ATTACK}", samples=(ATTACK,)),),
        figures={"DiskUsedPercent": 60.0, f'"><script>x</script>{ATTACK}': 1.0},
    )
    page = render_report(report)
    root = _parse(page)
    assert [el for el in root.iter() if el.tag in {"script", "img", "iframe", "object", "embed", "link"}] == []
    assert not any(name.startswith("on") for el in root.iter() for name in el.attrib)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    samples = [el.text for el in root.iter("pre")]
    assert samples == [ATTACK]  # the sample reads back as the very text the host logged


def test_policy_forbids_every_load_and_allows_exactly_the_page_style() -> None:
    root = _parse(render_report(_report()))
    head = root.find("head")
    assert head is not None
    (policy,) = [m.attrib["content"] for m in head.iter("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["img-src"] == "'none'"
    style = head.find("style")
    assert style is not None and style.text is not None
    digest = base64.b64encode(hashlib.sha256(style.text.encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert not any("style" in el.attrib for el in root.iter())  # the hash would not cover a style attribute


def test_no_external_url_anywhere() -> None:
    page = render_report(sample_report())
    # any src/href-like attribute, CSS url() or @import that is not a same-page fragment is a load
    loads = re.findall(
        r"""(?:\b(?:src|href|srcset|action|data|poster)\s*=\s*["']?(?!#)|url\(\s*["']?(?!#)|@import)""", page
    )
    assert loads == []
    assert not re.search(r"<(?:script|link|img|iframe|object|embed|base)\b", page, re.IGNORECASE)


def test_verdict_badge_and_what_needs_attention_first() -> None:
    report = sample_report()
    root = _parse(render_report(report))
    verdict = next(el for el in root.iter("div") if el.get("id") == "verdict")
    assert "lv-critical" in verdict.attrib["class"]
    assert "critical" in "".join(verdict.itertext())  # the word, not only the colour
    attention = root.find(".//ol[@class='attention']")
    assert attention is not None
    listed = [(li[0].text, li[1].text) for li in attention.findall("li")]
    assert listed == [(f.level, f.check) for f in report.findings if f.level != "ok"]
    assert [level for level, _ in listed] == ["critical", "critical", "warning", "warning", "warning"]
    rows = root.findall(".//tr[@class='finding']")
    assert [r[1].text for r in rows] == [f.check for f in report.findings]


def test_all_ok_says_nothing_needs_attention() -> None:
    root = _parse(render_report(_report()))
    section = next(el for el in root.iter("section") if el.get("id") == "attention")
    assert "Nothing needs attention" in "".join(section.itertext())
    assert LEVEL_COLOURS["ok"][0] == "#1e7b34"


def test_a_chart_per_figure_with_a_point_per_day() -> None:
    report = sample_report()
    charts = _charts(_parse(render_report(report)))
    assert list(charts) == [" ".join(spec.figures) for spec in CHARTS]
    for spec in CHARTS:
        svg = charts[" ".join(spec.figures)]
        assert svg.get("role") == "img" and svg.attrib["aria-label"].startswith(spec.title)
        for figure in spec.figures:
            present = sum(figure in p.figures for p in report.history)
            assert len(_points(svg, figure)) == present, figure
    # the sample: 29 reports over 30 days, the backup figures missing on one of them
    assert len(_points(charts["DiskUsedPercent"], "DiskUsedPercent")) == 29
    assert len(_points(charts["BackupSizeBytes"], "BackupSizeBytes")) == 28


def test_missing_figure_or_day_is_a_gap_never_zero() -> None:
    days = _days(10)
    history = tuple(
        HistoryPoint(date=day, figures={} if i == 3 else {"DiskUsedPercent": 50.0 + i})
        for i, day in enumerate(days)
        if i != 6  # no report at all that day
    )
    report = _report(history, figures={"DiskUsedPercent": 59.0})
    svg = _charts(_parse(render_report(report)))["DiskUsedPercent"]
    points = _points(svg, "DiskUsedPercent")
    assert len(points) == 8
    assert all(float(c.attrib["cy"]) < PLOT_BOTTOM for c in points)  # nothing drawn at 0 %
    # days 0-2, 4-5, 7-9: three segments
    assert _moves(svg, "#1f5fbf") == 3
    # a chart whose figure no day has: no point, and today says so
    memory = _charts(_parse(render_report(report)))["MemoryPercentMax"]
    assert _points(memory, "MemoryPercentMax") == []
    assert "no reading today" in "".join(memory.itertext())
    assert "Memory missing" in memory.attrib["aria-label"]


@pytest.mark.parametrize("history", [(), (HistoryPoint(date="2025-06-30", figures={"DiskUsedPercent": 1.0}),)])
def test_one_day_draws_todays_point(history: tuple[HistoryPoint, ...]) -> None:
    """Today's figures are the last point whatever the history holds (here: none, or a stale copy of today)."""
    root = _parse(render_report(_report(history)))
    charts = _charts(root)
    svg = charts["DiskUsedPercent"]
    (point,) = _points(svg, "DiskUsedPercent")
    assert float(point.attrib["cy"]) == pytest.approx(PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * 0.60, abs=0.1)
    assert svg.find(".//circle[@class='today']") is not None
    assert "today 2025-06-30: Disk used 60 %" in svg.attrib["aria-label"]
    assert len(_points(charts["BackendErrors Caddy5xx DatabaseErrors AuthFailures"], "BackendErrors")) == 1
    assert "The last 1 day" in "".join(root.itertext())


def test_thresholds_drawn_where_the_report_says() -> None:
    report = _report(thresholds={"disk_percent": "70/85", "memory_percent": "not/a/band"})
    charts = _charts(_parse(render_report(report)))
    disk = charts["DiskUsedPercent"]
    lines = disk.findall(".//line[@class='threshold']")
    ys = sorted(float(line.attrib["y1"]) for line in lines)
    expected = sorted(PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * v / 100 for v in (70, 85))
    assert ys == pytest.approx(expected, abs=0.1)
    labels = "".join(disk.itertext())
    assert "warn 70 %" in labels and "crit 85 %" in labels
    assert "warning 70 %, critical 85 %" in disk.attrib["aria-label"]
    # a threshold that does not read as warning/critical, or none at all, draws nothing (and does not fail)
    assert charts["MemoryPercentMax"].findall(".//line[@class='threshold']") == []
    assert charts["BackupAgeHours"].findall(".//line[@class='threshold']") == []


def test_values_above_the_fixed_top_raise_the_axis() -> None:
    report = _report(figures={"MemoryPercentMax": 130.0})
    memory = _charts(_parse(render_report(report)))["MemoryPercentMax"]
    (point,) = _points(memory, "MemoryPercentMax")
    assert float(point.attrib["cy"]) > TOP  # below the top: the axis goes to 150 %
    assert "150 %" in "".join(memory.itertext())


def test_backup_size_in_human_units() -> None:
    assert human_bytes(1_500_000_000) == "1.4 GiB"
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024**2) == "3 MiB"
    svg = _charts(_parse(render_report(sample_report())))["BackupSizeBytes"]
    ticks = [t.text for t in svg.iter("text") if t.get("class") == "tick"]
    assert "1 GiB" in ticks and "2 GiB" in ticks
    assert "Backup size 1.5 GiB" in svg.attrib["aria-label"]


@pytest.mark.parametrize(
    ("peak", "integer", "expected"),
    [
        (100, False, (100, 25)),
        (63, True, (80, 20)),
        (0, True, (1, 1)),
        (0.3, False, (0.3, 0.1)),
        (1.57, False, (2, 0.5)),
    ],
)
def test_nice_scale(peak: float, integer: bool, expected: tuple[float, float]) -> None:
    assert nice_scale(peak, integer) == pytest.approx(expected)


def test_page_stays_small() -> None:
    """Measured: 30 days 41 KB, 90 days 83 KB, a year (history_days' maximum, 366) 278 KB."""
    assert len(render_report(sample_report(days=30)).encode()) < 100_000
    assert len(render_report(sample_report(days=366)).encode()) < 400_000
