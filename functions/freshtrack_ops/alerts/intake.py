"""What the webhook does with one alert: find its target, close or dedupe, match a rule, pass the guard, start the
remediation workflow — or record why not. Domain logic behind ports; the handler wires AWS in."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from freshtrack_ops.alerts.models import Alert
from freshtrack_ops.config import SERVICE_PATTERN, SshTarget, SsmTarget, Target, TargetSet
from freshtrack_ops.remediation.guard import AuditEntry, AuditLog, AuditStatus, RemediationGuard
from freshtrack_ops.remediation.models import AlertRef, RemediationRequest
from freshtrack_ops.remediation.settings import HOST_ACTIONS, AlertRule

Outcome = Literal["started", "deduplicated", "resolved", "ignored", "suppressed", "notified"]
Notify = Callable[[str, str], None]


class AlertDecision(BaseModel):
    """The webhook's answer for one alert (also what the idempotency record keeps for its re-sends)."""

    model_config = ConfigDict(frozen=True)

    alertname: str
    fingerprint: str
    status: str
    outcome: Outcome
    host: str | None = None
    action: str | None = None
    execution_arn: str | None = None
    reason: str = ""


class RemediationStarter(Protocol):
    def start(self, name: str, request: RemediationRequest) -> str:
        """Start the remediation workflow; the execution ARN (the existing one when ``name`` was started before)."""
        ...


def target_of(alert: Alert, targets: TargetSet) -> Target | None:
    """The alert's ``host`` label (a target id), else its ``instance`` label without a ``:port`` matched against
    target ids, SSH addresses and SSM instance ids."""
    host = alert.labels.get("host")
    if host:
        return next((t for t in targets.targets if t.id == host), None)
    instance = alert.labels.get("instance", "")
    if instance.startswith("["):  # [ipv6]:port
        instance = instance[1:].partition("]")[0]
    elif instance.count(":") == 1:
        instance = instance.partition(":")[0]
    if not instance:
        return None
    for target in targets.targets:
        names = {target.id}
        if isinstance(target, SshTarget):
            names.add(target.address.lower())
        if isinstance(target, SsmTarget):
            names.add(target.instance_id)
        if instance.lower() in names:
            return target
    return None


def execution_name(alert: Alert) -> str:
    """A Step Functions execution name (1-80 of [A-Za-z0-9_-]) that is the same for every re-send of one alert."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"alert-{alert.dedupe_key}")[:80]


def _service(alert: Alert, rule: AlertRule, target: Target) -> str | None:
    if rule.service is not None or rule.action != "compose-up":
        return rule.service
    label = alert.labels.get("service", "")
    return label if re.fullmatch(SERVICE_PATTERN, label) and label in target.compose_services else None


class Intake:
    def __init__(
        self, targets: TargetSet, *, guard: RemediationGuard, audit: AuditLog, starter: RemediationStarter,
        notify: Notify, escalate: Notify, now: datetime,
    ) -> None:  # fmt: skip
        self._targets = targets
        self._guard = guard
        self._audit = audit
        self._starter = starter
        self._notify = notify
        self._escalate = escalate
        self._now = now
        #: (host, action) pairs the guard refused during this delivery: the window does not move within one
        #: delivery, so the rest of a storm is refused without asking the store again
        self._refused: dict[tuple[str, str], str] = {}

    def _record(self, alert: Alert, status: AuditStatus, detail: str, host: str | None, **extra: str | None) -> None:
        self._audit.record(
            AuditEntry(
                audit_id=alert.dedupe_key, host=host, source=alert.source, alertname=alert.alertname[:200],
                fingerprint=alert.fingerprint, starts_at=alert.starts_at, status=status, detail=detail[:1000],
                created_at=self._now, updated_at=self._now, action=extra.get("action"),
                execution_arn=extra.get("execution_arn"),
            )
        )  # fmt: skip

    def resolved(self, alert: Alert) -> AlertDecision:
        """A resolved alert starts nothing: it closes its firing's audit entry."""
        target = target_of(alert, self._targets)
        host = target.id if target else None
        self._audit.complete(
            host, alert.dedupe_key, "resolved", f"{alert.alertname} resolved at {self._now.isoformat()}", now=self._now
        )
        return AlertDecision(
            alertname=alert.alertname, fingerprint=alert.fingerprint, status=alert.status, outcome="resolved",
            host=host, reason="resolved alerts start nothing",
        )  # fmt: skip

    def already_refused(self, alert: Alert) -> AlertDecision | None:
        """The decision for an alert whose (host, action) the guard refused earlier in this delivery (audited as
        suppressed, nothing started, nothing asked of the store); None when it needs deciding."""
        target = target_of(alert, self._targets)
        settings = target.remediation if target else None
        rule = settings.rule_for(alert.alertname, alert.labels) if settings and settings.enabled else None
        if target is None or rule is None or (target.id, rule.action) not in self._refused:
            return None
        reason = self._refused[(target.id, rule.action)]
        self._record(alert, "suppressed", reason, target.id, action=rule.action)
        return AlertDecision(
            alertname=alert.alertname, fingerprint=alert.fingerprint, status=alert.status, outcome="suppressed",
            host=target.id, action=rule.action, reason=reason,
        )  # fmt: skip

    def firing(self, alert: Alert) -> AlertDecision:
        """Decide a firing alert (called once per alert episode: the handler dedupes re-sends around it)."""
        base = {"alertname": alert.alertname, "fingerprint": alert.fingerprint, "status": alert.status}
        target = target_of(alert, self._targets)
        if target is None:
            reason = f"no target has host/instance {alert.labels.get('host') or alert.labels.get('instance')!r}"
            self._record(alert, "ignored", reason, None)
            return AlertDecision(**base, outcome="ignored", reason=reason)
        settings = target.remediation
        rule = settings.rule_for(alert.alertname, alert.labels) if settings.enabled else None
        if rule is None or rule.action not in HOST_ACTIONS:
            why = "remediation disabled" if not settings.enabled else "no rule acts on it (notify-only)"
            self._notify(
                f"FreshTrack alert: {alert.alertname} on {target.id}"[:100],
                f"{alert.alertname} fired on {target.id} ({alert.source}, since {alert.starts_at.isoformat()}): "
                f"{alert.summary or 'no summary'}. {why}: a person should look at it.",
            )
            self._record(alert, "notified", why, target.id, action="notify-only")
            return AlertDecision(**base, outcome="notified", host=target.id, action="notify-only", reason=why)
        admission = self._guard.admit(target.id, rule.action, settings, self._now)
        if not admission.allowed:
            self._refused[(target.id, rule.action)] = admission.reason
            if admission.escalate:
                self._escalate(
                    f"FreshTrack remediation suspended on {target.id}"[:100],
                    f"{alert.alertname} on {target.id} asked for {rule.action}, refused: {admission.reason}. Nothing "
                    "more is done automatically for this action until the window or cool-down passes; look at the "
                    "host.",
                )
            self._record(alert, "suppressed", admission.reason, target.id, action=rule.action)
            return AlertDecision(
                **base, outcome="suppressed", host=target.id, action=rule.action, reason=admission.reason
            )
        request = RemediationRequest(
            host=target.id, action=rule.action, service=_service(alert, rule, target), dry_run=settings.dry_run,
            alert=AlertRef(source=alert.source, alertname=alert.alertname, fingerprint=alert.fingerprint,
                           starts_at=alert.starts_at, summary=alert.summary),
            audit_id=alert.dedupe_key,
        )  # fmt: skip
        arn = self._starter.start(execution_name(alert), request)
        self._record(alert, "started", admission.reason, target.id, action=rule.action, execution_arn=arn)
        return AlertDecision(**base, outcome="started", host=target.id, action=rule.action, execution_arn=arn)
