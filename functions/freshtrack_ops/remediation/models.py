"""The remediation workflow's execution input and what its states hand each other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from freshtrack_ops.fields import HostRef, ServiceRef, Strict
from freshtrack_ops.remediation.settings import HOST_ACTIONS, Action, AlertName

AlertSource = Literal["alertmanager", "grafana", "console"]
#: Alertmanager's fingerprint is 16 hex digits; Grafana's too (a hash of the labels)
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]
Summary = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]
#: audit entry id: ``<source>-<fingerprint>-<startsAt epoch>`` for an alert, ``console-<uuid hex>`` by hand
AuditId = Annotated[str, StringConstraints(pattern=r"^[a-z]+-[0-9a-f]{1,64}-[0-9]{1,12}$|^console-[0-9a-f]{32}$")]


class AlertRef(Strict):
    """Which alert asked for the remediation (what the audit entry and notification name)."""

    source: AlertSource = Field(description="Where the alert came from: alertmanager, grafana or console")
    alertname: AlertName = Field(description="The alert's name (its alertname label)")
    fingerprint: Fingerprint = Field(description="The alert's fingerprint (with starts_at, the dedupe key)")
    starts_at: datetime = Field(description="When the alert started firing")
    summary: Summary = Field(default="", description="The alert's summary annotation")


class RemediationRequest(Strict):
    """Execution input of the remediation workflow (started by the webhook, or by hand from the console/CLI)."""

    host: HostRef = Field(description="Target id from the deployment configuration")
    action: Action = Field(
        description=(
            "What to do: compose-up, restart-service, disk-cleanup, restart-top-memory, "
            "certificate-check or notify-only"
        )
    )
    service: ServiceRef | None = Field(
        default=None, description="The service for compose-up (default: all) and restart-service (required)"
    )
    dry_run: bool = Field(default=False, description="Report the commands it would run; change nothing")
    alert: AlertRef | None = Field(default=None, description="The alert that asked for it (set by the webhook)")
    audit_id: AuditId | None = Field(default=None, description="The audit entry to complete (set by the webhook)")


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


#: what a host report's facts hold (a service's state, a percentage, a date)
Fact = str | int | float


class RemediationHostEvent(Strict):
    """What the Act, CheckBefore and Verify states pass the host steps (plan.host, plan.action, plan.service)."""

    host: HostRef
    action: Action
    service: ServiceRef | None = None

    @field_validator("action")
    @classmethod
    def _acts_on_the_host(cls, action: Action) -> Action:
        if action not in HOST_ACTIONS:
            raise ValueError(f"{action} runs nothing on the host")
        return action


class ActionReport(Strict):
    """What an action did: the commands that ran (as the manual writes them), the facts they read before and
    after, whether anything changed (the act state's result, the notification's 'Ran:')."""

    action: Action
    #: the service acted on: the request's, or the one restart-top-memory chose (None: compose-up of all)
    service: ServiceRef | None
    commands: list[str]
    changed: bool
    before: dict[str, Fact]
    after: dict[str, Fact]
    summary: str


class ConditionReport(Strict):
    """The alert's condition on the host: ``ok`` when it no longer holds (the Verify state loops on it)."""

    action: Action
    ok: bool
    facts: dict[str, Fact]
    summary: str
