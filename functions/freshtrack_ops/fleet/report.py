"""The fleet's report: every host in rollout order with its outcome; what the notification and Fail cause say."""

from __future__ import annotations

from collections import Counter
from typing import Any

from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.fleet.models import GOOD_STATUSES, FleetReport, HostOutcome, ReportEvent
from freshtrack_ops.fleet.outcome import skipped
from freshtrack_ops.ports import FleetHalt

#: a Fail state's cause holds at most 32,768 characters; the summary stays well under it
MAX_SUMMARY_CHARS = 30_000


def fleet_report(event: ReportEvent, halt: FleetHalt | None) -> FleetReport:
    plan, results = event.plan, event.results
    ran = (results.canary.outcome,) if results.canary else ()
    by_host = {outcome.host: outcome for outcome in (*ran, *results.rollout)}
    canary = by_host.get(plan.canary.host) or HostOutcome(
        host=plan.canary.host,
        status="failed",
        error="FleetError",
        cause=f"the canary's update did not report: {_map_error(results.canary_error)}",
    )
    why_not = _why_not_started(canary, halt, results.rollout_error)
    hosts = (canary, *(by_host.get(m.host) or skipped(m.host, halt, why_not) for m in plan.rest))
    counts = dict(Counter(host.status for host in hosts))
    succeeded = all(host.status in GOOD_STATUSES for host in hosts)
    report = FleetReport(
        fleet=plan.fleet,
        version=plan.update.version,
        succeeded=succeeded,
        canary=plan.canary.host,
        hosts=hosts,
        counts=counts,
        halted_by=halt.by if halt else "",
        summary="",
    )
    return report.model_copy(update={"summary": summary(report, halt)})


def _why_not_started(canary: HostOutcome, halt: FleetHalt | None, rollout_error: dict[str, Any] | None) -> str:
    if canary.status not in GOOD_STATUSES:
        return f"the canary {canary.host} {canary.status}"
    if rollout_error is not None:
        return f"the rollout ended early: {_map_error(rollout_error)}"
    return f"updates stopped: {halt.reason}" if halt else ""


def _map_error(error: dict[str, Any] | None) -> str:
    if error is None:
        return "no outcome"
    name, cause = error_fields(CaughtError.model_validate(error))
    return f"{name}: {cause}"


def summary(report: FleetReport, halt: FleetHalt | None) -> str:
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts.items()))
    if report.succeeded:
        head = (
            f"Fleet update {report.fleet} to {report.version} succeeded on all {len(report.hosts)} hosts "
            f"({counts}; canary {report.canary})."
        )
    else:
        bad = [h for h in report.hosts if h.status not in GOOD_STATUSES | {"skipped"}]
        not_started = [h.host for h in report.hosts if h.status == "skipped"]
        head = f"Fleet update {report.fleet} to {report.version} FAILED ({counts}; canary {report.canary})."
        if bad:
            head += " " + " ".join(f"{h.host} {h.status}: {h.error}: {h.cause}" for h in bad)
        if halt:
            head += f" No further host was started once {halt.reason}."
        if not_started:
            head += f" Not started (unchanged): {', '.join(not_started)}."
    lines = [f"- {h.host}: {h.status}" + (f" {h.version}" if h.version else "") + _arn(h) for h in report.hosts]
    text = head + "\nHosts:\n" + "\n".join(lines)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"


def _arn(host: HostOutcome) -> str:
    return f" ({host.execution_arn})" if host.execution_arn else ""
