"""The remediation guard's decisions on a fake clock (rate limit, circuit breaker, one escalation per episode), its
DynamoDB store under a race for the last slot, and the audit log's entries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.adapters.remediation_store import DynamoAuditLog, DynamoRemediationGuard
from freshtrack_ops.remediation.guard import AuditEntry, GuardState, after_outcome, decide
from freshtrack_ops.remediation.settings import RemediationSettings

T0 = 1_800_000_000
SETTINGS = RemediationSettings(max_attempts=3, window_s=600, breaker_failures=2, cooldown_s=900)


def test_the_rate_limit_admits_max_attempts_per_window_and_escalates_once() -> None:
    state, seen = GuardState(), []
    for second in range(0, 600, 60):  # ten asks in one window
        admission, state = decide(state, SETTINGS, T0 + second)
        seen.append((admission.allowed, admission.escalate))
    assert seen[:3] == [(True, False)] * 3
    assert seen[3] == (False, True) and seen[4:] == [(False, False)] * 6
    admission, state = decide(state, SETTINGS, T0 + 600)  # the next window
    assert admission.allowed and state.attempts == 1
    for _ in range(2):
        admission, state = decide(state, SETTINGS, T0 + 601)
    admission, state = decide(state, SETTINGS, T0 + 602)
    assert (admission.allowed, admission.escalate) == (False, True)  # a new episode escalates again


def test_the_breaker_opens_after_failures_in_a_row_then_lets_one_trial_through() -> None:
    state = GuardState()
    admission, state = after_outcome(state, False, SETTINGS, T0)
    assert admission.allowed and not admission.escalate
    admission, state = after_outcome(state, True, SETTINGS, T0 + 1)  # a success resets the count
    assert state.failures == 0
    for second in (2, 3):
        admission, state = after_outcome(state, False, SETTINGS, T0 + second)
    assert (admission.allowed, admission.escalate) == (False, True) and state.open_until == T0 + 3 + 900
    refused, state = decide(state, SETTINGS, T0 + 100)
    assert (refused.allowed, refused.escalate) == (False, False)  # already escalated when it opened
    assert "circuit breaker" in refused.reason
    trial, state = decide(state, SETTINGS, T0 + 3 + 900)  # cool-down over: one trial (half-open)
    assert trial.allowed
    admission, state = after_outcome(state, False, SETTINGS, T0 + 1000)  # the trial failed: open again at once
    assert (admission.allowed, admission.escalate) == (False, True)
    assert not decide(state, SETTINGS, T0 + 1001)[0].allowed


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="ops", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )  # fmt: skip
        yield client


class RacingClient:
    """A DynamoDB client where another webhook invocation takes a slot between this one's read and its write."""

    def __init__(self, client: Any, rival: DynamoRemediationGuard, now: datetime) -> None:
        self._client = client
        self._rival = rival
        self._now = now
        self.rival_admissions: list[bool] = []

    def get_item(self, **kwargs: Any) -> Any:
        item = self._client.get_item(**kwargs)
        if not self.rival_admissions:
            self.rival_admissions.append(self._rival.admit("demo", "compose-up", SETTINGS, self._now).allowed)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_two_invocations_racing_for_the_last_slot_cannot_both_pass(ddb: Any) -> None:
    now = datetime.fromtimestamp(T0, UTC)
    plain = DynamoRemediationGuard(ddb, "ops")
    assert [plain.admit("demo", "compose-up", SETTINGS, now).allowed for _ in range(2)] == [True, True]
    racing = RacingClient(ddb, plain, now)
    late = DynamoRemediationGuard(racing, "ops")  # type: ignore[arg-type]
    admission = late.admit("demo", "compose-up", SETTINGS, now)
    assert racing.rival_admissions == [True]  # the rival took the third slot between the read and the write
    assert (admission.allowed, admission.escalate) == (False, True)  # the conditional write made this one re-decide
    assert not plain.admit("demo", "compose-up", SETTINGS, now).escalate  # and only it escalated
    assert plain.admit("other-host", "compose-up", SETTINGS, now).allowed  # per (host, action)
    assert plain.admit("demo", "disk-cleanup", SETTINGS, now).allowed


def test_the_audit_log_records_completes_and_lists_newest_first(ddb: Any) -> None:
    log = DynamoAuditLog(ddb, "ops")
    t = datetime.fromtimestamp(T0, UTC)
    for i in range(3):
        log.record(
            AuditEntry(
                audit_id=f"alertmanager-{i}-{T0}", host="demo", source="alertmanager", alertname="ServiceDown",
                fingerprint=str(i), starts_at=t, status="started", action="compose-up", execution_arn=None,
                detail="see https://x.example/?X-Amz-Signature=abc", created_at=t + timedelta(seconds=i),
                updated_at=t + timedelta(seconds=i),
            )
        )  # fmt: skip
    log.complete("demo", f"alertmanager-1-{T0}", "succeeded", "healthy again", now=t + timedelta(minutes=5),
                 execution_arn="arn:aws:states:us-east-1:123456789012:execution:remediation:x")  # fmt: skip
    log.complete("demo", "grafana-ff-1", "resolved", "resolved before this deployment", now=t)  # never recorded
    entries = log.entries("demo")
    assert [e.audit_id for e in entries] == [f"alertmanager-2-{T0}", f"alertmanager-1-{T0}", f"alertmanager-0-{T0}",
                                             "grafana-ff-1"]  # fmt: skip
    done = entries[1]
    assert (done.status, done.detail, done.created_at) == ("succeeded", "healthy again", t + timedelta(seconds=1))
    assert done.execution_arn and done.updated_at == t + timedelta(minutes=5)
    assert "abc" not in entries[0].detail  # redacted
    assert entries[3].source == "grafana" and entries[3].status == "resolved"
    assert log.entries("demo", limit=1) == entries[:1] and log.entries("elsewhere") == []
