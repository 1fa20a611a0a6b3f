"""The report task's work, behind ports: judge the day, add its history, store the report and the day's figures,
word the notification. A collection that failed (the host unreachable) is still a report: critical, saying why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from freshtrack_ops.config import Target
from freshtrack_ops.daily.facts import Facts
from freshtrack_ops.daily.judge import judge
from freshtrack_ops.daily.judgement import BackupState, HealthAnswer, Judgement
from freshtrack_ops.daily.models import DailyPlan, DailyReport, HistoryPoint
from freshtrack_ops.daily.report import build_report, history_window, notification, report_keys
from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.models import HealthResult
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.retention.rpo import newest_verified, rpo_of


class DailyHistory(Protocol):
    def put(self, host: str, date: str, figures: dict[str, float], verdict: str, *, now_epoch: int) -> None: ...

    def since(self, host: str, first_date: str, last_date: str) -> list[HistoryPoint]: ...


class ReportStore(Protocol):
    bucket: str

    def put(self, key: str, body: str, content_type: str) -> None: ...


@dataclass(frozen=True)
class DailyPorts:
    history: DailyHistory
    reports: ReportStore
    list_backups: Callable[[str], list[CatalogEntry]]
    render_html: Callable[[DailyReport], str]
    region: str


@dataclass(frozen=True)
class DailyInputs:
    """What the workflow's states gathered: the host's facts or why collecting failed; the health answer or its
    error."""

    facts: Facts | None
    collect_error: CaughtError | None
    health: HealthResult | None
    health_error: CaughtError | None


@dataclass(frozen=True)
class DailyOutcome:
    report: DailyReport
    json_key: str
    html_key: str
    subject: str
    message: str

    def output(self) -> dict[str, Any]:
        """The task's output: what the notification state and the execution's output need (no findings: the
        report is in S3)."""
        return {
            "verdict": self.report.verdict,
            "json_key": self.json_key,
            "html_key": self.html_key,
            "subject": self.subject,
            "message": self.message,
        }


def health_answer(inputs: DailyInputs) -> HealthAnswer:
    if inputs.health is not None:
        return HealthAnswer(True, f"{inputs.health.url} answered {inputs.health.http_status}")
    name, cause = error_fields(inputs.health_error or CaughtError())
    return HealthAnswer(False, f"the health check failed ({name}): {cause}")


def backup_state(entries: list[CatalogEntry], now: datetime) -> BackupState:
    newest = newest_verified(entries)
    rpo = rpo_of(entries, now)
    return BackupState(
        backup_id=rpo.backup_id, age_hours=rpo.age_hours, size_bytes=newest.size_bytes if newest else None
    )


def judge_day(target: Target, inputs: DailyInputs, backup: BackupState) -> Judgement:
    if inputs.facts is not None:
        return judge(target, inputs.facts, health_answer(inputs), backup)
    name, cause = error_fields(inputs.collect_error or CaughtError())
    return judge(target, None, health_answer(inputs), backup, unread=f"({name}): {cause}")


def run_daily_report(
    target: Target, plan: DailyPlan, inputs: DailyInputs, ports: DailyPorts, *, now: datetime, execution_id: str
) -> DailyOutcome:
    judgement = judge_day(target, inputs, backup_state(ports.list_backups(target.id), now))
    first, last = history_window(plan.date, target.daily_check.history_days)
    earlier = ports.history.since(target.id, first, last)
    report = build_report(target, judgement, day=plan.date, now=now, execution_id=execution_id, earlier=earlier)
    json_key, html_key = report_keys(target.id, plan.date)
    ports.reports.put(json_key, report.model_dump_json(indent=1), "application/json")
    ports.reports.put(html_key, ports.render_html(report), "text/html; charset=utf-8")
    ports.history.put(target.id, plan.date, report.figures, report.verdict, now_epoch=int(now.timestamp()))
    subject, message = notification(
        report, region=ports.region, bucket=ports.reports.bucket, html_key=html_key, json_key=json_key
    )
    return DailyOutcome(report=report, json_key=json_key, html_key=html_key, subject=subject, message=message)
