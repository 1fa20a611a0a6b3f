"""The remediation guard (a rate limit and a circuit breaker per host and action) and the audit log: ports and the
decisions, free of any store.

* Rate limit: at most ``max_attempts`` actions admitted per (host, action) in a fixed window of ``window_s``.
* Circuit breaker: ``breaker_failures`` failed actions in a row open the circuit for ``cooldown_s``; after it one
  trial is admitted (half-open): its failure opens the circuit again at once, a success closes it.
* Escalation: the first refusal of an episode (a window spent, or a circuit opened) says ``escalate``; the store
  makes that true for exactly one caller, however many webhook invocations race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StringConstraints

from freshtrack_ops.remediation.settings import RemediationSettings

AuditStatus = Literal[
    "received", "ignored", "deduplicated", "suppressed", "notified", "started", "succeeded", "failed", "gave-way",
    "resolved", "refused", "dry-run", "reverted", "revert-failed", "host-lost",
]  # fmt: skip
# "refused": a service or maintenance request refused by its validation (no confirmation, a bad field); nothing ran.
# The maintenance workflows' own: "dry-run" (the commands listed, nothing run), "reverted" (a change failed and was
# undone), "revert-failed" (and undoing it failed too), "host-lost" (the host did not answer after a reboot/start)


class Admission(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: str
    #: the first refusal of its episode: tell a person (once)
    escalate: bool = False


class GuardState(BaseModel):
    """One (host, action)'s counters as stored."""

    model_config = ConfigDict(frozen=True)

    window_start: int = 0
    attempts: int = 0
    failures: int = 0
    open_until: int = 0
    #: the episode last escalated ("rate:<window start>" or "breaker:<open until>")
    escalated: str = ""


def decide(state: GuardState, settings: RemediationSettings, now: int) -> tuple[Admission, GuardState]:
    """Admit or refuse one action at ``now`` (epoch seconds); the state to store when admitted or escalating."""
    if state.open_until > now:
        episode = f"breaker:{state.open_until}"
        reason = (
            f"circuit breaker open until {datetime.fromtimestamp(state.open_until).isoformat()}Z after "
            f"{state.failures} failed action(s) in a row"
        )
        return _refuse(state, episode, reason)
    if state.window_start + settings.window_s <= now:
        return Admission(allowed=True, reason="admitted (new window)"), state.model_copy(
            update={"window_start": now, "attempts": 1}
        )
    if state.attempts < settings.max_attempts:
        return Admission(allowed=True, reason=f"admitted ({state.attempts + 1} of {settings.max_attempts})"), (
            state.model_copy(update={"attempts": state.attempts + 1})
        )
    reason = (
        f"rate limit: {state.attempts} action(s) in the last {settings.window_s} s "
        f"(max_attempts {settings.max_attempts})"
    )
    return _refuse(state, f"rate:{state.window_start}", reason)


def _refuse(state: GuardState, episode: str, reason: str) -> tuple[Admission, GuardState]:
    if state.escalated == episode:
        return Admission(allowed=False, reason=reason), state
    return Admission(allowed=False, reason=reason, escalate=True), state.model_copy(update={"escalated": episode})


def after_outcome(
    state: GuardState, succeeded: bool, settings: RemediationSettings, now: int
) -> tuple[Admission, GuardState]:
    """Feed the breaker one action's outcome; ``escalate`` when this failure opened the circuit."""
    if succeeded:
        return Admission(allowed=True, reason="succeeded: breaker closed"), state.model_copy(update={"failures": 0})
    failures = state.failures + 1
    if failures < settings.breaker_failures:
        reason = f"{failures} failed action(s) in a row (the breaker opens at {settings.breaker_failures})"
        return Admission(allowed=True, reason=reason), state.model_copy(update={"failures": failures})
    open_until = now + settings.cooldown_s
    reason = f"{failures} failed action(s) in a row: circuit breaker open for {settings.cooldown_s} s"
    opened = state.model_copy(
        update={"failures": failures, "open_until": open_until, "escalated": f"breaker:{open_until}"}
    )
    return Admission(allowed=False, reason=reason, escalate=True), opened


class RemediationGuard(Protocol):
    def admit(self, host: str, action: str, settings: RemediationSettings, now: datetime) -> Admission: ...

    def record_outcome(
        self, host: str, action: str, succeeded: bool, settings: RemediationSettings, now: datetime
    ) -> Admission: ...


class AuditEntry(BaseModel):
    """Who (source), what (alert, action), when, and the result of one webhook delivery or action."""

    model_config = ConfigDict(frozen=True)

    audit_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    host: str | None
    source: str
    alertname: str | None
    fingerprint: str | None
    starts_at: datetime | None
    status: AuditStatus
    action: str | None
    execution_arn: str | None
    detail: Annotated[str, StringConstraints(max_length=1000)]
    created_at: datetime
    updated_at: datetime


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def complete(
        self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
        execution_arn: str | None = None,
    ) -> None: ...  # fmt: skip

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]: ...
