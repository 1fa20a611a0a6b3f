"""What the fault matrix of the change workflows found (tests/faults/test_faults_change_*.py), pinned without a plane:
a deployment record that cannot be written is said, never the workflow's outcome; a replacement EC2 has no capacity
for fails with a named error; a remediation escalation SNS refuses leaves the audit entry closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from freshtrack_ops import runtime
from freshtrack_ops.adapters.ec2 import Ec2Instances
from freshtrack_ops.errors import InstanceCapacityUnavailable
from freshtrack_ops.handlers import remediation
from freshtrack_ops.remediation.guard import Admission, AuditStatus
from freshtrack_ops.remediation.models import RemediationOutcome, RemediationPlan
from freshtrack_ops.remediation.record import record_outcome
from freshtrack_ops.remediation.settings import RemediationSettings
from freshtrack_ops.update.models import DeploymentOutcome, UpdateOutput
from freshtrack_ops.update.record import not_recorded
from tests.unit.fakes import FakeAudit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COMMIT = "a" * 40


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, operation)


# -- the deployment record -----------------------------------------------------------------------------------------


def _outcome(kind: str) -> tuple[DeploymentOutcome, UpdateOutput]:
    fields: dict[str, Any] = {
        "update_id": "demo-20261201T120000Z-0a1b2c3d", "host": "demo", "from_version": "v1.2.0",
        "to_version": "v1.3.0", "backup_id": "demo-20261201T120000Z-0a1b2c3d", "schema_changed": False,
        "duration_s": 12.0,
    }  # fmt: skip
    outcome = DeploymentOutcome(**fields, kind=kind, from_commit=COMMIT, to_commit="b" * 40, outcome="succeeded")
    return outcome, UpdateOutput(**fields)


@pytest.mark.parametrize(
    ("kind", "consequence"),
    [
        ("release", "will not offer it as the previous deployment"),
        ("rollback", "would offer the deployments it undid again"),
    ],
)
def test_a_deployment_not_recorded_is_said_in_the_output(kind: str, consequence: str) -> None:
    outcome, output = _outcome(kind)
    assert output.recorded is True and output.history_note == "Recorded in the deployment history."
    error = _client_error("ProvisionedThroughputExceededException", "PutItem")

    said = not_recorded(outcome, output, error)

    assert said.recorded is False
    assert said.history_note.startswith("NOT recorded in the deployment history (ClientError: ")
    assert "ProvisionedThroughputExceededException" in said.history_note and consequence in said.history_note
    assert said.model_dump(exclude={"recorded", "history_note"}) == output.model_dump(
        exclude={"recorded", "history_note"}
    )


# -- the replacement's launch -----------------------------------------------------------------------------------


class _Ec2:
    def __init__(self, code: str) -> None:
        self.code = code

    def run_instances(self, **_: Any) -> dict[str, Any]:
        raise _client_error(self.code, "RunInstances")


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "InstanceLimitExceeded", "VcpuLimitExceeded"])
def test_a_launch_without_capacity_is_instance_capacity_unavailable(code: str) -> None:
    with pytest.raises(InstanceCapacityUnavailable, match=f"RunInstances refused: {code}"):
        Ec2Instances(_Ec2(code), None).launch({"LaunchTemplateId": "lt-0123"}, {"k": "v"}, "dr-token")


def test_other_launch_errors_stay_what_ec2_said() -> None:
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        Ec2Instances(_Ec2("UnauthorizedOperation"), None).launch({"LaunchTemplateId": "lt-0123"}, {}, "dr-token")


# -- a remediation's escalation ---------------------------------------------------------------------------------


class _Guard:
    """The breaker: this failure opens it (escalate)."""

    def admit(self, host: str, action: str, settings: RemediationSettings, now: datetime) -> Admission:
        raise AssertionError("recording admits nothing")

    def record_outcome(
        self, host: str, action: str, succeeded: bool, settings: RemediationSettings, now: datetime
    ) -> Admission:
        return Admission(allowed=False, reason="breaker open", escalate=True)


class _Audit(FakeAudit):
    def __init__(self) -> None:
        super().__init__()
        self.completed: list[AuditStatus] = []

    def complete(self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
                 execution_arn: str | None = None) -> None:  # fmt: skip
        self.completed.append(status)


def test_the_audit_entry_is_closed_before_the_breaker_escalates() -> None:
    plan = RemediationPlan(
        host="demo", action="disk-cleanup", service=None, route="act", audit_id="console-" + "0" * 32, alert=None,
        commands=["docker system prune -af"], check_health=False, lock_owner="arn:x", lock_lease_seconds=900,
        lock_poll_s=5, lock_tries=1, verify_poll_s=5, verify_tries=1, headline="disk-cleanup on demo (by hand)",
    )  # fmt: skip
    audit = _Audit()

    def escalate(subject: str, message: str) -> None:
        assert audit.completed == ["failed"], "closed first"
        raise _client_error("InternalError", "Publish")

    with pytest.raises(ClientError):
        record_outcome(
            RemediationOutcome(plan=plan, outcome="failed"), RemediationSettings(), guard=_Guard(), audit=audit,
            now=NOW, escalate=escalate, execution_id="arn:x",
        )  # fmt: skip
    assert audit.completed == ["failed"]


def test_an_escalation_sns_refuses_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        def publish(self, subject: str, message: str) -> None:
            raise _client_error("InternalError", "Publish")

    monkeypatch.setattr(runtime, "notifier", Refusing)
    remediation._escalate("FreshTrack remediation suspended on demo", "breaker open")
