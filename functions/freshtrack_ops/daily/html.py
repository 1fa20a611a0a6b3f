"""The daily report as one self-contained HTML page: verdict, what needs attention first, the findings with their
samples, today's figures, and small charts of the last days.

Nothing is loaded from anywhere: the CSS is inline (its sha256 is the only style the Content-Security-Policy
allows), the charts are inline SVG drawn here (svg_chart.py), there is no script and the policy forbids one
(a log sample holding ``<script>`` is escaped, and would not run if it were not). Every text from the report
is HTML-escaped. Colour is never the only signal: each level is also written as a word, lines differ by dash.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape
from typing import Literal

from freshtrack_ops.daily.models import FIGURES, DailyReport, Finding, Level
from freshtrack_ops.daily.svg_chart import (
    Chart,
    Series,
    Threshold,
    day_numbers,
    number,
    render_legend,
    render_svg,
    with_unit,
)

#: the verdict badge's and level labels' background, and their text colour (contrast >= 4.5:1 both ways:
#: white on #1e7b34 is 5.3:1, #1a1a1a on #f2b705 10.6:1, white on #b91c1c 6.5:1)
LEVEL_COLOURS: dict[Level, tuple[str, str]] = {
    "ok": ("#1e7b34", "#ffffff"),
    "warning": ("#f2b705", "#1a1a1a"),
    "critical": ("#b91c1c", "#ffffff"),
}
#: threshold lines (and their labels, on white: #a15c00 is 4.9:1, #b91c1c 6.5:1)
THRESHOLD_COLOURS = {"warning": "#a15c00", "critical": "#b91c1c"}
#: one line colour per series of a chart, in order (none of them a level colour)
SERIES_COLOURS = ("#1f5fbf", "#7b2cbf", "#0f7b7b", "#c2410c")
SERIES_DASHES = ("", "6 3", "2 3", "9 3 2 3")

Unit = Literal["percent", "bytes", "hours", "count"]


@dataclass(frozen=True)
class ChartSpec:
    title: str
    figures: tuple[str, ...]
    unit: Unit
    #: the key in ``report.thresholds`` ("70/85": warning/critical) drawn as dashed lines
    thresholds: str | None = None


#: the charts the page draws, in order
CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("Disk used (app filesystem)", ("DiskUsedPercent",), "percent", "disk_percent"),
    ChartSpec("Memory (highest container)", ("MemoryPercentMax",), "percent", "memory_percent"),
    ChartSpec("Newest verified backup: size", ("BackupSizeBytes",), "bytes"),
    ChartSpec("Newest verified backup: age", ("BackupAgeHours",), "hours", "backup_age_hours"),
    ChartSpec("Errors in the log window", ("BackendErrors", "Caddy5xx", "DatabaseErrors", "AuthFailures"), "count"),
)
#: short names for the legends (the others use FIGURES' description)
SHORT_NAMES = {
    "DiskUsedPercent": "Disk used",
    "MemoryPercentMax": "Memory",
    "BackupSizeBytes": "Backup size",
    "BackupAgeHours": "Backup age",
    "BackendErrors": "Backend errors",
    "Caddy5xx": "Caddy 5xx",
    "DatabaseErrors": "Database errors",
    "AuthFailures": "Auth failures",
}
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

CSS = """
*{box-sizing:border-box}
body{margin:0;padding:24px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#1a1a1a;background:#fff}
main{max-width:1200px;margin:0 auto}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d0d0d0;padding-bottom:4px}
h3{font-size:15px;margin:0 0 6px}
.head{display:flex;gap:24px;align-items:flex-start;justify-content:space-between;flex-wrap:wrap}
.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0 0}
.meta dt{color:#444;font-weight:600}
.meta dd{margin:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:14px}
.verdict{text-align:center;padding:14px 28px;border-radius:10px;min-width:220px}
.verdict .word{display:block;font-size:34px;font-weight:800;letter-spacing:.06em;text-transform:uppercase}
.verdict .what{font-size:14px}
.level{display:inline-block;padding:1px 8px;border-radius:4px;font-weight:700;font-size:13px;
text-transform:uppercase;letter-spacing:.03em}
.lv-ok{background:#1e7b34;color:#fff}
.lv-warning{background:#f2b705;color:#1a1a1a}
.lv-critical{background:#b91c1c;color:#fff}
ol.attention{padding-left:22px;margin:6px 0}
ol.attention li{margin:4px 0}
.check{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #e0e0e0}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details summary{cursor:pointer;color:#1f4f99}
pre{margin:6px 0 0;padding:8px;background:#f6f6f6;border:1px solid #e0e0e0;border-radius:4px;
font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:18px}
figure{margin:0;border:1px solid #e0e0e0;border-radius:8px;padding:10px 12px}
svg.chart{width:100%;height:auto;display:block}
svg.chart .grid{stroke:#e6e6e6;stroke-width:1}
svg.chart .axis{stroke:#888;stroke-width:1}
svg.chart .threshold{stroke-width:1.5}
svg.chart .line{fill:none;stroke-width:2.5;stroke-linejoin:round;stroke-linecap:round}
svg.chart .today{stroke:#fff;stroke-width:2}
svg.chart text{font:12px system-ui,"DejaVu Sans",sans-serif;fill:#333}
svg.chart .today-label{font-weight:700;fill:#1a1a1a;stroke:#fff;stroke-width:3px;paint-order:stroke}
ul.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
svg.swatch{width:24px;height:8px;margin-right:6px;vertical-align:middle}
footer{margin-top:28px;color:#555;font-size:13px}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
#: nothing may load: no script at all, no image, font, frame or connection; only the one inline style above
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; font-src 'none'; "
    "script-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _level(level: Level) -> str:
    return f'<span class="level lv-{level}">{level}</span>'


def _finding_line(finding: Finding) -> str:
    return f'<li>{_level(finding.level)} <span class="check">{_e(finding.check)}</span>: {_e(finding.summary)}</li>'


def _header(report: DailyReport) -> str:
    meta = (
        ("Target", report.target),
        ("Domain", report.domain),
        ("Day (UTC)", report.date),
        ("Generated", report.generated_at),
        ("Execution", report.execution_id),
    )
    rows = "".join(f"<dt>{name}</dt><dd>{_e(value)}</dd>" for name, value in meta)
    attention = report.attention()
    counts = {level: sum(f.level == level for f in report.findings) for level in ("critical", "warning", "ok")}
    what = f"{counts['critical']} critical, {counts['warning']} warning, {counts['ok']} ok"
    listing = (
        f'<ol class="attention">{"".join(_finding_line(f) for f in attention)}</ol>'
        if attention
        else "<p>Nothing needs attention: every check is ok.</p>"
    )
    return (
        f'<header class="head"><div><h1>Daily report: {_e(report.target)}</h1><dl class="meta">{rows}</dl></div>'
        f'<div class="verdict lv-{report.verdict}" id="verdict"><span class="what">Verdict</span>'
        f'<span class="word">{report.verdict}</span><span class="what">{what}</span></div></header>'
        f'<section id="attention"><h2>What needs attention first</h2>{listing}</section>'
    )


def _samples(finding: Finding) -> str:
    if not finding.samples:
        return ""
    noun = "sample" if len(finding.samples) == 1 else "samples"
    lines = "\n".join(_e(line) for line in finding.samples)
    return f"<details><summary>{len(finding.samples)} {noun}</summary><pre>{lines}</pre></details>"


def _findings(report: DailyReport) -> str:
    rows = "".join(
        f'<tr class="finding"><td>{_level(f.level)}</td><td class="check">{_e(f.check)}</td>'
        f"<td>{_e(f.summary)}{_samples(f)}</td></tr>"
        for f in report.findings
    )
    if not rows:
        rows = '<tr><td colspan="3">No findings.</td></tr>'
    return (
        '<section id="findings"><h2>Findings</h2><table><thead><tr><th scope="col">Level</th>'
        f'<th scope="col">Check</th><th scope="col">Summary and samples</th></tr></thead><tbody>{rows}</tbody>'
        "</table></section>"
    )


def human_bytes(value: float) -> str:
    """``1.5 GiB``: 1024-based, like ``du -h`` and ``df -h``."""
    power = 0
    while abs(value) >= 1024 and power < len(_BYTE_UNITS) - 1:
        value /= 1024
        power += 1
    return with_unit(value, _BYTE_UNITS[power])


def _figure_value(name: str, value: float) -> str:
    return human_bytes(value) if name.endswith("Bytes") else number(value)


def _figures(report: DailyReport) -> str:
    known = [name for name in FIGURES if name in report.figures]
    names = known + sorted(set(report.figures) - set(FIGURES))
    rows = "".join(
        f'<tr><td>{_e(FIGURES.get(name, name))}</td><td class="check">{_e(name)}</td>'
        f'<td class="num">{_e(_figure_value(name, report.figures[name]))}</td></tr>'
        for name in names
    )
    missing = [name for name in FIGURES if name not in report.figures]
    note = f"<p>Not read today: {_e(', '.join(missing))}.</p>" if missing else ""
    return (
        '<section id="figures"><h2>Today\'s figures</h2><table><thead><tr><th scope="col">Figure</th>'
        f'<th scope="col">Metric</th><th scope="col">Value</th></tr></thead><tbody>{rows}</tbody></table>'
        f"{note}</section>"
    )


def days(report: DailyReport) -> tuple[tuple[str, dict[str, float]], ...]:
    """The charts' days, oldest first, ending with the report's own (its figures, whatever history says)."""
    earlier = [(p.date, p.figures) for p in report.history if p.date != report.date]
    return (*earlier, (report.date, report.figures))


def thresholds(text: str | None) -> tuple[Threshold, ...]:
    """``"70/85"`` as the warning and critical lines; a value that does not read so draws no line."""
    if text is None:
        return ()
    try:
        warning, critical = (float(part) for part in text.split("/"))
    except ValueError:
        return ()
    return (
        Threshold("warning", "warn", warning, THRESHOLD_COLOURS["warning"]),
        Threshold("critical", "crit", critical, THRESHOLD_COLOURS["critical"]),
    )


def _byte_unit(values: list[float | None]) -> tuple[float, str]:
    peak = max((v for v in values if v is not None), default=0.0)
    power = 0
    while peak >= 1024 and power < len(_BYTE_UNITS) - 1:
        peak /= 1024
        power += 1
    return 1024.0**power, _BYTE_UNITS[power]


def chart(spec: ChartSpec, report: DailyReport) -> Chart:
    """One chart's data: a figure absent on a day is ``None`` there (a gap), never zero."""
    points = days(report)
    raw = {name: [figures.get(name) for _, figures in points] for name in spec.figures}
    divisor, unit = 1.0, {"percent": "%", "hours": "h", "count": "", "bytes": ""}[spec.unit]
    if spec.unit == "bytes":
        divisor, unit = _byte_unit([v for values in raw.values() for v in values])
    series = tuple(
        Series(
            figure=name,
            label=SHORT_NAMES.get(name, FIGURES.get(name, name)),
            values=tuple(None if v is None else v / divisor for v in raw[name]),
            colour=SERIES_COLOURS[i % len(SERIES_COLOURS)],
            dash=SERIES_DASHES[i % len(SERIES_DASHES)],
        )
        for i, name in enumerate(spec.figures)
    )
    return Chart(
        title=spec.title,
        days=tuple(day for day, _ in points),
        series=series,
        thresholds=thresholds(report.thresholds.get(spec.thresholds) if spec.thresholds else None),
        unit=unit,
        fixed_top=100.0 if spec.unit == "percent" else None,
        integer=spec.unit == "count",
    )


def _charts(report: DailyReport) -> str:
    figures = []
    for spec in CHARTS:
        data = chart(spec, report)
        figures.append(f"<figure><h3>{_e(spec.title)}</h3>{render_svg(data)}{render_legend(data)}</figure>")
    # the days the charts span (a day without a report is a gap inside it, not a shorter chart)
    count = day_numbers([day for day, _ in days(report)])[-1] + 1
    noun = "day" if count == 1 else "days"
    return (
        f'<section id="charts"><h2>The last {count} {noun}</h2><p>Oldest on the left; a gap is a day the figure '
        f'was not read. Dashed lines are the warning and critical thresholds.</p><div class="charts">'
        f"{''.join(figures)}</div></section>"
    )


def render_report(report: DailyReport) -> str:
    """The whole page (UTF-8 text); it loads nothing from anywhere."""
    title = f"{report.verdict.upper()}: daily report {report.target} {report.date}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        '<meta name="referrer" content="no-referrer"/>'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{_header(report)}{_findings(report)}{_charts(report)}{_figures(report)}"
        f"<footer>FreshTrack Ops daily check of {_e(report.target)} ({_e(report.domain)}), execution "
        f"{_e(report.execution_id)}, generated {_e(report.generated_at)}.</footer></main></body></html>\n"
    )
