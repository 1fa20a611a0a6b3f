"""What a finished service operation says: the audit entry's outcome, the notification's words and, for a
failure, the error the execution fails with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.redact import redact
from freshtrack_ops.remediation.guard import AuditLog
from freshtrack_ops.service.models import ServiceOutcome, ServicePlan, ServiceRecord
from freshtrack_ops.service.plan import LOCK_WAIT_S

_SUBJECTS = {
    "succeeded": "FreshTrack service {action} on {host}: done",
    "failed": "FreshTrack service {action} on {host} FAILED",
    "gave-way": "FreshTrack service {action} on {host} not run: host locked",
}


def _act_lines(act: Mapping[str, object] | None) -> list[str]:
    """What ran, each service's state after, the saved log or fail2ban's answer."""
    if not act:
        return []
    commands = act.get("commands")
    lines = ["Ran:"] + [f"  {command}" for command in commands] if isinstance(commands, list) else []
    after, status = act.get("after"), act.get("status")
    if isinstance(after, dict) and after:
        details = status if isinstance(status, dict) else {}
        lines.append("Services after:")
        lines += [f"  {name}: {state} ({details.get(name, '?')})" for name, state in after.items()]
    if act.get("log_key"):
        lines.append(f"Logs: {act.get('log_lines')} line(s), redacted, saved to {act['log_key']} in the ops bucket")
    if act.get("unbanned") is not None:
        lines.append(f"fail2ban answered: {act['unbanned']}")
    return lines


def _planned(plan: ServicePlan) -> list[str]:
    return ["Planned:"] + [f"  {command}" for command in plan.commands]


def describe(outcome: ServiceOutcome) -> ServiceRecord:
    """The notification (what ran and the services' states after, or why nothing ran) and the failure's error."""
    plan = outcome.plan
    lines = [plan.headline, ""]
    name, cause = "", ""
    if outcome.error:
        name, cause = error_fields(CaughtError.model_validate(outcome.error))
    if outcome.outcome == "gave-way":
        cause = f"{cause}; waited {LOCK_WAIT_S} s for the host lock: nothing was run"
        lines += [
            "Another workflow holds the host lock, so nothing was run. Start the operation again once it is done.",
            f"Lock: {cause}",
            *_planned(plan),
        ]
    elif outcome.outcome == "failed":
        lines += _planned(plan) + _act_lines(outcome.act) + [f"Error: {name}: {cause[:800]}"]
    else:
        lines += _act_lines(outcome.act)
    subject = _SUBJECTS[outcome.outcome].format(action=plan.action, host=plan.host)[:100]
    return ServiceRecord(subject=subject, message=redact("\n".join(lines)), error_name=name, error_cause=cause)


def record_outcome(outcome: ServiceOutcome, *, audit: AuditLog, now: datetime, execution_id: str) -> ServiceRecord:
    """Close the audit entry the validator opened; the notification's words."""
    record = describe(outcome)
    plan = outcome.plan
    if outcome.outcome == "succeeded":
        act = outcome.act or {}
        detail = str(act.get("summary") or plan.headline)
    else:
        detail = f"{record.error_name}: {record.error_cause}"
    audit.complete(plan.host, plan.audit_id, outcome.outcome, detail[:500], now=now, execution_arn=execution_id)
    return record
