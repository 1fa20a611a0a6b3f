"""The remediation workflow's execution input and what its states hand each other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.models import HostRef, ServiceRef, Strict
from freshtrack_ops.remediation.settings import Action, AlertName

AlertSource = Literal["alertmanager", "grafana", "console"]
#: Alertmanager's fingerprint is 16 hex digits; Grafana's too (a hash of the labels)
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]
Summary = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]
#: audit entry id: ``<source>-<fingerprint>-<startsAt epoch>`` for an alert, ``console-<uuid hex>`` by hand
AuditId = Annotated[str, StringConstraints(pattern=r"^[a-z]+-[0-9a-f]{1,64}-[0-9]{1,12}$|^console-[0-9a-f]{32}$")]


class AlertRef(Strict):
    """Which alert asked for the remediation (what the audit entry and notification name)."""

    source: AlertSource
    alertname: AlertName
    fingerprint: Fingerprint
    starts_at: datetime
    summary: Summary = ""


class RemediationRequest(Strict):
    """Execution input of the remediation workflow (started by the webhook, or by hand from the console/CLI)."""

    host: HostRef = Field(description="Target id from the deployment configuration.")
    action: Action = Field(description="What to do (docs/remediation.md).")
    service: ServiceRef | None = Field(
        default=None, description="The service for compose-up (default: all) and restart-service (required)."
    )
    dry_run: bool = Field(default=False, description="Report the commands it would run; change nothing.")
    alert: AlertRef | None = Field(default=None, description="The alert that asked for it (set by the webhook).")
    audit_id: AuditId | None = Field(default=None, description="The audit entry to complete (set by the webhook).")


Route = Literal["act", "dry-run", "notify-only"]


class ValidateRemediationEvent(Strict):
    """What the first state hands the validator: the raw input plus the execution's id and start."""

    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    started_at: datetime


class RemediationPlan(Strict):
    """The validated request with the target's settings the later states need (Wait seconds, loop counts)."""

    host: HostRef
    action: Action
    service: ServiceRef | None
    route: Route
    audit_id: AuditId
    alert: AlertRef | None
    #: what the action runs on the host (human readable; the dry run reports exactly these)
    commands: list[str]
    #: services whose health the verification also checks through the health URL (service actions)
    check_health: bool
    lock_owner: str
    lock_lease_seconds: int
    lock_poll_s: int
    #: how many more times the lock is tried (the state machine counts down)
    lock_tries: int
    verify_poll_s: int
    verify_tries: int
    #: the first line of the notifications ("ServiceDown on demo (alertmanager, since ...)" or "by hand")
    headline: str


class RemediationOutcome(Strict):
    """What the record task is told happened."""

    plan: RemediationPlan
    outcome: Literal["succeeded", "failed", "gave-way", "dry-run", "notified"]
    before: dict[str, object] | None = None
    act: dict[str, object] | None = None
    after: dict[str, object] | None = None
    error: dict[str, object] | None = None


class RemediationRecord(Strict):
    """The notification the workflow publishes, and whether the breaker escalated."""

    subject: Annotated[str, StringConstraints(max_length=100)]
    message: str
    escalated: bool
