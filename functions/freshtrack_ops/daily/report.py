"""The daily report: the judgement of the day with its history, and the short notification that leads with what
needs attention first.

The notification links the report by its S3 console address (a console login opens it) and by ``aws s3 cp``,
never by a presigned URL: a presigned URL is a bearer credential, and credentials never reach notifications
(DESIGN.md section 7; redact.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import quote

from freshtrack_ops.config import Target
from freshtrack_ops.daily.judgement import Judgement
from freshtrack_ops.daily.models import DailyReport, HistoryPoint

#: the bucket prefix of reports (stacks/storage_stack.py REPORT_PREFIX: its lifecycle and the "reports" grant)
REPORT_PREFIX = "reports/"
#: SNS e-mail subjects are at most 100 characters; the message is kept far below SNS's 256 KB
MAX_SUBJECT = 100
MAX_ATTENTION_LINES = 12


def report_keys(host: str, day: str) -> tuple[str, str]:
    """The JSON and HTML keys of a host's report of a day."""
    base = f"{REPORT_PREFIX}{host}/daily/{day}"
    return f"{base}.json", f"{base}.html"


def history_window(day: str, days: int) -> tuple[str, str]:
    """The first and last day (inclusive) of the ``days`` days ending with ``day``."""
    last = date.fromisoformat(day)
    return (last - timedelta(days=days - 1)).isoformat(), last.isoformat()


def build_report(
    target: Target,
    judgement: Judgement,
    *,
    day: str,
    now: datetime,
    execution_id: str,
    earlier: list[HistoryPoint],
) -> DailyReport:
    """``earlier``: the stored days before today (a re-run of today replaces today's point)."""
    today = HistoryPoint(date=day, figures=dict(judgement.figures))
    history = [point for point in earlier if point.date != day] + [today]
    return DailyReport(
        target=target.id,
        domain=target.domain,
        date=day,
        generated_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        execution_id=execution_id,
        verdict=judgement.verdict,
        findings=judgement.ordered(),
        figures=dict(judgement.figures),
        history=tuple(sorted(history, key=lambda point: point.date)),
        thresholds=dict(judgement.thresholds),
    )


def console_url(region: str, bucket: str, key: str) -> str:
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={quote(key, safe='/')}"


def notification(report: DailyReport, *, region: str, bucket: str, html_key: str, json_key: str) -> tuple[str, str]:
    """Subject and message: the verdict, then the critical findings, then the warnings, then where the report is."""
    attention = report.attention()
    counts = {level: sum(1 for f in attention if f.level == level) for level in ("critical", "warning")}
    tally = f"{counts['critical']} critical, {counts['warning']} warning(s)" if attention else "all checks ok"
    subject = f"FreshTrack daily check {report.target}: {report.verdict.upper()} ({tally})"[:MAX_SUBJECT]
    lines = [f"Daily check of {report.target} ({report.domain}) for {report.date}: {report.verdict.upper()}.", ""]
    if attention:
        lines.append("Needs attention, most urgent first:")
        lines += [f"- [{f.level.upper()}] {f.check}: {f.summary}" for f in attention[:MAX_ATTENTION_LINES]]
        if len(attention) > MAX_ATTENTION_LINES:
            lines.append(f"- ... and {len(attention) - MAX_ATTENTION_LINES} more in the report")
    else:
        lines.append(f"Nothing needs attention: all {len(report.findings)} checks are ok.")
    lines += [
        "",
        f"Report (charts of the last {len(report.history)} day(s)): {console_url(region, bucket, html_key)}",
        f"  aws s3 cp s3://{bucket}/{html_key} .",
        f"JSON: s3://{bucket}/{json_key}",
        f"Execution: {report.execution_id}",
    ]
    return subject, "\n".join(lines)
