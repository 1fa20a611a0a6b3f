"""The daily report's page in a real browser: Debian's headless Chromium opens the file, and its screenshot and
DOM show the charts drawn and the verdict badge coloured (the badge's colour is CSS, so it also proves that the
Content-Security-Policy's style hash lets the page's own style through).

One Chromium run for the module (about 5 s to start here): --screenshot and --dump-dom together. The screenshot
is kept at build/test-artifacts/daily-report.png (the repository had no artifacts convention; build/ is ignored
by git), beside the page it shows.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from freshtrack_ops.daily.html import CHARTS, LEVEL_COLOURS, SERIES_COLOURS, THRESHOLD_COLOURS, render_report
from freshtrack_ops.daily.models import DailyReport
from tests.png_pixels import Image, decode, size
from tools.render_sample_report import WINDOW, capture, sample_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def _rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.removeprefix("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


@dataclass(frozen=True)
class Rendered:
    report: DailyReport
    png: bytes
    image: Image
    dom: str


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    if shutil.which("chromium") is None:
        pytest.fail("chromium: not installed (make sysdeps installs Debian's chromium package)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = sample_report()
    page = ARTIFACTS / "daily-report.html"
    page.write_text(render_report(report), encoding="utf-8")
    png = ARTIFACTS / "daily-report.png"
    png.unlink(missing_ok=True)
    dom = capture(page, png)
    data = png.read_bytes()
    return Rendered(report=report, png=data, image=decode(data), dom=dom)


def test_screenshot_is_a_png_of_the_window(rendered: Rendered) -> None:
    assert size(rendered.png) == WINDOW
    assert (rendered.image.width, rendered.image.height) == WINDOW


def test_the_charts_lines_are_drawn(rendered: Rendered) -> None:
    """Each series colour covers far more pixels than its 24x8 legend swatch could (measured on this sample:
    blue 4072, purple 272, teal 428, orange 729): the lines and points really render."""
    counts = {colour: rendered.image.count(_rgb(colour)) for colour in SERIES_COLOURS}
    assert counts[SERIES_COLOURS[0]] > 1500, counts  # disk, memory, backup size and age, backend errors
    assert all(count > 150 for count in counts.values()), counts
    # the warning threshold's dashed lines (disk, memory, backup age) and labels
    assert rendered.image.count(_rgb(THRESHOLD_COLOURS["warning"])) > 150


def test_the_verdict_badge_is_coloured(rendered: Rendered) -> None:
    """The critical badge is about 245x120 px of its colour (level labels alone would be a few thousand)."""
    background, _ = LEVEL_COLOURS[rendered.report.verdict]
    assert rendered.report.verdict == "critical"
    assert rendered.image.count(_rgb(background)) > 20_000
    # the warning labels in "what needs attention first" and the findings table
    assert rendered.image.count(_rgb(LEVEL_COLOURS["warning"][0])) > 1_000


def test_the_dom_has_the_charts(rendered: Rendered) -> None:
    """Chromium parsed the inline SVG as SVG charts: one per chart, a point per day that has the figure."""
    figures = re.findall(r'<svg class="chart" data-figure="([^"]+)"', rendered.dom)
    assert figures == [" ".join(spec.figures) for spec in CHARTS]
    for figure in ("DiskUsedPercent", "BackupSizeBytes", "AuthFailures"):
        group = re.search(rf'<g class="points" data-series="{figure}"[^>]*>(.*?)</g>', rendered.dom, re.DOTALL)
        assert group is not None, figure
        expected = sum(figure in point.figures for point in rendered.report.history)
        assert group.group(1).count("<circle") == expected, figure
    assert "<script" not in rendered.dom.lower()  # the samples' <script> stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.dom
