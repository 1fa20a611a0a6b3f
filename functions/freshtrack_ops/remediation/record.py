"""What a finished remediation says: the audit entry's outcome, the breaker's count, the notification's words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from freshtrack_ops.redact import redact
from freshtrack_ops.remediation.guard import AuditLog, AuditStatus, RemediationGuard
from freshtrack_ops.remediation.models import RemediationOutcome, RemediationRecord
from freshtrack_ops.remediation.settings import RemediationSettings

_SUBJECTS = {
    "succeeded": "FreshTrack remediation succeeded",
    "failed": "FreshTrack remediation FAILED",
    "gave-way": "FreshTrack remediation deferred",
    "dry-run": "FreshTrack remediation dry run",
    "notified": "FreshTrack alert",
}
_AUDIT_STATUS: dict[str, AuditStatus] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "gave-way": "gave-way",
    "dry-run": "succeeded",
    "notified": "notified",
}


def _facts(label: str, report: Mapping[str, object] | None) -> list[str]:
    if not report:
        return []
    facts = report.get("facts")
    summary = str(report.get("summary", "")).strip()
    lines = [f"{label}: {summary}" if summary else f"{label}:"]
    if isinstance(facts, dict):
        lines += [f"  {key} = {value}" for key, value in sorted(facts.items())]
    return lines


def _act_lines(act: Mapping[str, object] | None) -> list[str]:
    if not act:
        return []
    commands = act.get("commands")
    lines = ["Ran:"] + [f"  {command}" for command in commands] if isinstance(commands, list) else []
    for label in ("before", "after"):
        values = act.get(label)
        if isinstance(values, dict) and values:
            lines.append(f"Action {label}: " + ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    return lines


def _error_lines(error: Mapping[str, object] | None) -> list[str]:
    if not error:
        return []
    return [f"Error: {error.get('Error', 'unknown')}: {str(error.get('Cause', ''))[:800]}"]


def describe(outcome: RemediationOutcome) -> tuple[str, str]:
    """Subject and message of the workflow's notification (before/after facts, what ran, or why nothing ran)."""
    plan = outcome.plan
    lines = [plan.headline, ""]
    if outcome.outcome == "dry-run":
        lines += ["Dry run: nothing was changed. It would run:"] + [f"  {c}" for c in plan.commands]
    elif outcome.outcome == "notified":
        lines += ["No remediation rule acts on this alert (notify-only): a person should look at it."]
    elif outcome.outcome == "gave-way":
        lines += ["Another workflow holds the host lock; the remediation gave way to it and changed nothing."]
    lines += _facts("Before", outcome.before) + _act_lines(outcome.act) + _facts("After", outcome.after)
    lines += _error_lines(outcome.error)
    return _SUBJECTS[outcome.outcome], redact("\n".join(lines))


def record_outcome(
    outcome: RemediationOutcome,
    settings: RemediationSettings,
    *,
    guard: RemediationGuard,
    audit: AuditLog,
    now: datetime,
    escalate: Callable[[str, str], None],
    execution_id: str,
) -> RemediationRecord:
    """Close the audit entry; count a host action's success or failure in the breaker (escalating when it opens)."""
    plan = outcome.plan
    subject, message = describe(outcome)
    escalated = False
    admission = None
    if outcome.outcome in ("succeeded", "failed"):
        admission = guard.record_outcome(plan.host, plan.action, outcome.outcome == "succeeded", settings, now)
    # the audit entry is closed before anything is escalated: an escalation that cannot be sent must not leave it
    # open (it did once, with SNS down: the entry said "started" for a failed remediation)
    detail = message.splitlines()[2] if len(message.splitlines()) > 2 else message
    audit.complete(
        plan.host, plan.audit_id, _AUDIT_STATUS[outcome.outcome], detail[:500], now=now, execution_arn=execution_id
    )
    if admission is not None and admission.escalate:
        escalated = True
        escalate(
            f"FreshTrack remediation suspended on {plan.host}",
            f"{plan.action} on {plan.host} failed {settings.breaker_failures} time(s) in a row: the circuit "
            f"breaker is open for {settings.cooldown_s} s and nothing more is done automatically. "
            f"{admission.reason}\n\nLast attempt:\n{message}",
        )
    return RemediationRecord(subject=subject, message=message, escalated=escalated)
