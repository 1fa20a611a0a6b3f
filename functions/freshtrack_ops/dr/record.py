"""The end of a disaster recovery or drill: its RTO, RPO and phase durations, for the catalog and the metrics.

RTO is start -> verified (the execution's start to the moment the replacement passed its checks; for a recovery,
to the check through the domain after the DNS change); RPO is the age of the backup used at the start (its
``finished_at``): the data a real recovery at that moment would have lost.
"""

from __future__ import annotations

import json
from datetime import datetime

from freshtrack_ops.dr.models import RecordEvent, RecordResult

_PHASES = ("provisioned", "bootstrapped", "restored", "verified", "dns_insync", "domain_verified")


def _seconds(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds(), 3)


def summarize(event: RecordEvent) -> RecordResult:
    plan = event.plan
    rpo = _seconds(plan.started_at, datetime.fromisoformat(plan.backup_finished_at))
    end = event.marks.domain_verified if plan.mode == "recover" else event.marks.verified
    rto = _seconds(end.at if end is not None else event.finished_at, plan.started_at)
    phases: dict[str, float] = {}
    previous = plan.started_at
    for name in _PHASES:
        mark = getattr(event.marks, name)
        if mark is not None:
            phases[name] = _seconds(mark.at, previous)
            previous = mark.at
    what = "drill" if plan.mode == "drill" else "recovery"
    if event.outcome == "succeeded":
        summary = (
            f"{what} of {plan.host} onto {event.replacement.replacement_id if event.replacement else '?'} "
            f"succeeded: RTO {rto:.0f} s, RPO {rpo:.0f} s (backup {plan.backup.backup_id}); phases "
            + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
        )
    else:
        failure = event.failure.error_name if event.failure else "an error"
        summary = f"{what} of {plan.host} FAILED with {failure} after {rto:.0f} s"
    return RecordResult(rto_s=rto, rpo_s=rpo, phases=phases, summary=summary)


def history_body(event: RecordEvent, result: RecordResult) -> str:
    plan = event.plan
    return json.dumps(
        {
            "dr_id": plan.dr_id,
            "host": plan.host,
            "mode": plan.mode,
            "outcome": event.outcome,
            "backup_id": plan.backup.backup_id,
            "replacement": event.replacement.model_dump(mode="json") if event.replacement else None,
            "started_at": plan.started_at.isoformat(),
            "finished_at": event.finished_at.isoformat(),
            "rto_s": result.rto_s,
            "rpo_s": result.rpo_s,
            "phases": result.phases,
            "error": event.failure.error_name if event.failure else "",
            "execution_id": plan.execution_id,
        },
        separators=(",", ":"),
    )
