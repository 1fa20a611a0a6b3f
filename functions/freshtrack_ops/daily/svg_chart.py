"""A small inline-SVG line chart for the daily report's page: days on x, one line per series, a gap where a
day's figure is missing (never a zero), dashed threshold lines, and today's value called out.

Written here rather than taken from a plotting library: pygal (the well-kept pure-Python one) emits a
``<script>`` reference to kozea.github.io and ~20 KB of CSS per chart by default, and the page must load
nothing from elsewhere and stay small (tests/unit/test_daily_html.py measures both).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

#: the viewBox: the page scales it to its column
WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 78, 10, 24
#: ticks on the value axis (about; nice steps decide)
Y_TICKS = 4


@dataclass(frozen=True)
class Series:
    """One line: ``values`` has one entry per day of the chart, ``None`` where the figure is missing."""

    figure: str
    label: str
    values: tuple[float | None, ...]
    colour: str
    #: stroke-dasharray, so that lines differ by more than colour
    dash: str = ""


@dataclass(frozen=True)
class Threshold:
    #: the legend's word ("warning") and the chart margin's ("warn")
    label: str
    short: str
    value: float
    colour: str


@dataclass(frozen=True)
class Chart:
    title: str
    #: ISO dates (YYYY-MM-DD), oldest first; the last one is today
    days: tuple[str, ...]
    series: tuple[Series, ...]
    thresholds: tuple[Threshold, ...] = ()
    #: appended to every value shown ("%", "GiB", "h"; "" for counts)
    unit: str = ""
    #: the value axis's top when nothing goes above it (percentages: 100)
    fixed_top: float | None = None
    #: counts: whole-number ticks
    integer: bool = False


@dataclass(frozen=True)
class _Frame:
    span: int
    top: float

    def x(self, day: int) -> float:
        if self.span == 0:  # one day of history: the point sits where today does
            return float(WIDTH - RIGHT)
        return LEFT + (WIDTH - LEFT - RIGHT) * day / self.span

    def y(self, value: float) -> float:
        bottom = HEIGHT - BOTTOM
        return bottom - (bottom - TOP) * min(max(value, 0.0), self.top) / self.top


def number(value: float, decimals: int = 1) -> str:
    """``72.5``, ``3``, ``0.25`` (decimals as given, a trailing ``.0`` dropped)."""
    text = f"{value:.{decimals}f}"
    return text[:-2] if text.endswith(".0") else text


def with_unit(value: float, unit: str, decimals: int = 1) -> str:
    return f"{number(value, decimals)} {unit}" if unit else number(value, decimals)


def day_numbers(days: Sequence[str]) -> list[int]:
    """Days since the first one; by position when a date does not parse or the order is off (then a missing
    day cannot be seen, but a missing figure still can)."""
    try:
        ordinals = [date.fromisoformat(day).toordinal() for day in days]
    except ValueError:
        return list(range(len(days)))
    if any(later <= earlier for earlier, later in itertools.pairwise(ordinals)):
        return list(range(len(days)))
    return [ordinal - ordinals[0] for ordinal in ordinals]


def nice_scale(peak: float, integer: bool) -> tuple[float, float]:
    """The value axis's (top, step): a step of 1, 2, (2.5,) or 5 times a power of ten, about ``Y_TICKS`` of them."""
    peak = peak if peak > 0 else 1.0
    raw = peak / Y_TICKS
    magnitude = 10.0 ** math.floor(math.log10(raw))
    # 2.5 gives percentages their quarters; counts keep to whole steps (2.5 would round up to a ragged 3)
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in factors if m * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, float(math.ceil(step)))
    return step * math.ceil(peak / step - 1e-9), step


def _scale(chart: Chart) -> tuple[float, float]:
    values = [v for s in chart.series for v in s.values if v is not None]
    peak = max([*values, *(t.value for t in chart.thresholds), 0.0])
    if chart.fixed_top is not None and peak <= chart.fixed_top:
        return nice_scale(chart.fixed_top, chart.integer)
    return nice_scale(peak * 1.05, chart.integer)


def _path(days: Sequence[int], values: Sequence[float | None], frame: _Frame) -> str:
    """Segments between consecutive days that both have the figure: a missing figure or day breaks the line."""
    parts: list[str] = []
    previous: int | None = None
    for day, value in zip(days, values, strict=True):
        if value is None:
            previous = None
            continue
        command = "L" if previous is not None and day - previous == 1 else "M"
        parts.append(f"{command}{frame.x(day):.1f} {frame.y(value):.1f}")
        previous = day
    return "".join(parts)


def _y_axis(frame: _Frame, step: float, chart: Chart) -> list[str]:
    decimals = len(f"{step:g}".partition(".")[2])  # 0.25 needs two, 0.5 one, 25 none
    out: list[str] = []
    for i in range(round(frame.top / step) + 1):
        value = i * step
        y = frame.y(value)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = escape(with_unit(value, chart.unit, decimals))
        out.append(f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    return out


def _x_axis(chart: Chart, days: Sequence[int], frame: _Frame) -> list[str]:
    picks = sorted({0, len(days) // 2, len(days) - 1}) if len(days) > 4 else list(range(len(days)))
    y = HEIGHT - 6
    out = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>']
    for i in picks:
        label = escape(chart.days[i][5:] if len(chart.days[i]) == 10 else chart.days[i])
        out.append(f'<text class="tick" x="{frame.x(days[i]):.1f}" y="{y}" text-anchor="middle">{label}</text>')
    return out


def _thresholds(chart: Chart, frame: _Frame) -> list[str]:
    """Dashed lines labelled in the right margin: the lower threshold's label under its line, the others' over
    theirs, so that two close thresholds (backup age 25/26 h) stay readable."""
    out: list[str] = []
    lowest = min((t.value for t in chart.thresholds), default=0.0)
    for threshold in chart.thresholds:
        y = frame.y(threshold.value)
        text_y = y + 12 if threshold.value == lowest and len(chart.thresholds) > 1 else y - 3
        text = escape(f"{threshold.short} {with_unit(threshold.value, chart.unit)}")
        out.append(
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{threshold.colour}" stroke-dasharray="5 4"/>'
            f'<text class="tick" x="{WIDTH - RIGHT + 4}" y="{text_y:.1f}" fill="{threshold.colour}">{text}</text>'
        )
    return out


def _series(chart: Chart, series: Series, days: Sequence[int], frame: _Frame) -> str:
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    figure = escape(series.figure)
    out = [f'<path class="line" d="{_path(days, series.values, frame)}" stroke="{series.colour}"{dash}/>']
    out.append(f'<g class="points" data-series="{figure}" fill="{series.colour}">')
    for day, when, value in zip(days, chart.days, series.values, strict=True):
        if value is not None:
            tip = escape(f"{when}: {with_unit(value, chart.unit)}")
            out.append(
                f'<circle cx="{frame.x(day):.1f}" cy="{frame.y(value):.1f}" r="2.5"><title>{tip}</title></circle>'
            )
    out.append("</g>")
    return "".join(out)


def _today(chart: Chart, days: Sequence[int], frame: _Frame) -> list[str]:
    """Today's value: a larger ringed marker, and for a single line its value beside it."""
    x = frame.x(days[-1])
    out: list[str] = []
    for series in chart.series:
        value = series.values[-1]
        if value is None:
            continue
        y = frame.y(value)
        figure = escape(series.figure)
        out.append(
            f'<circle class="today" data-series="{figure}" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{series.colour}"/>'
        )
        if len(chart.series) == 1:
            label = escape(with_unit(value, chart.unit))
            # above and left of the marker: the right margin holds the threshold labels
            out.append(f'<text class="today-label" x="{x - 7:.1f}" y="{y - 9:.1f}" text-anchor="end">{label}</text>')
    if all(series.values[-1] is None for series in chart.series):
        out.append(f'<text class="tick" x="{x - 4:.1f}" y="{TOP + 10}" text-anchor="end">no reading today</text>')
    return out


def summary(chart: Chart) -> str:
    """What a screen reader hears (the svg's aria-label and title): the latest values and the thresholds."""
    today = "; ".join(
        f"{s.label} {with_unit(s.values[-1], chart.unit)}" if s.values[-1] is not None else f"{s.label} missing"
        for s in chart.series
    )
    text = f"{chart.title}, last {day_numbers(chart.days)[-1] + 1} days; today {chart.days[-1]}: {today}"
    if chart.thresholds:
        text += "; " + ", ".join(f"{t.label} {with_unit(t.value, chart.unit)}" for t in chart.thresholds)
    return text


def render_svg(chart: Chart) -> str:
    """The ``<svg class="chart">``: ``data-figure`` lists its series' figures (space separated)."""
    if not chart.days or any(len(s.values) != len(chart.days) for s in chart.series):
        raise ValueError(f"series: need one value per day, {len(chart.days)} days (got {chart.title!r})")
    top, step = _scale(chart)
    days = day_numbers(chart.days)
    frame = _Frame(span=days[-1], top=top)
    label = escape(summary(chart))
    figures = escape(" ".join(s.figure for s in chart.series))
    parts = [
        f'<svg class="chart" data-figure="{figures}" role="img" aria-label="{label}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet"><title>{label}</title>',
        *_y_axis(frame, step, chart),
        *_x_axis(chart, days, frame),
        *_thresholds(chart, frame),
        *(_series(chart, series, days, frame) for series in chart.series),
        *_today(chart, days, frame),
        "</svg>",
    ]
    return "".join(parts)


def render_legend(chart: Chart) -> str:
    """The chart's legend as HTML: a line sample, the series' name and today's value in words."""
    items: list[str] = []
    for series in chart.series:
        dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
        value = series.values[-1]
        today = with_unit(value, chart.unit) if value is not None else "no reading"
        items.append(
            f'<li><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" '
            f'stroke="{series.colour}" stroke-width="2.5"{dash}/></svg>{escape(series.label)}: '
            f"<b>{escape(today)}</b> today</li>"
        )
    for threshold in chart.thresholds:
        items.append(
            f'<li><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" '
            f'stroke="{threshold.colour}" stroke-width="1.5" stroke-dasharray="5 4"/></svg>'
            f"{escape(threshold.label)} at {escape(with_unit(threshold.value, chart.unit))}</li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'
