"""The webhook's domain without AWS: credentials compared in constant time, Grafana signatures and their replay
window, an alert's target, its execution name, and the intake's decisions behind fake ports."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from freshtrack_ops.adapters.sfn_starter import SfnRemediationStarter
from freshtrack_ops.alerts import auth
from freshtrack_ops.alerts.auth import Forbidden, Unauthenticated, check_alertmanager, check_grafana, grafana_signature
from freshtrack_ops.alerts.intake import Intake, execution_name, target_of
from freshtrack_ops.alerts.models import Alert, AlertmanagerPayload, alerts_of
from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.config import SshTarget, SsmTarget, TargetSet
from freshtrack_ops.remediation.guard import Admission, AuditEntry, AuditStatus, GuardState, decide
from freshtrack_ops.remediation.models import AlertRef, RemediationRequest
from freshtrack_ops.remediation.settings import AlertRule, RemediationSettings

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"
NOW = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
BEARER = WebhookSettings()
BASIC = WebhookSettings(alertmanager_auth="basic")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every comparison auth makes, through hmac.compare_digest (the constant-time one)."""
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)  # type: ignore[attr-defined]
    return calls


def test_bearer_tokens_are_compared_in_constant_time(compared: list[tuple[bytes, bytes]]) -> None:
    secret = {"token": "s3cret-token"}
    check_alertmanager({"Authorization": "Bearer s3cret-token"}, secret, BEARER)
    assert compared == [(b"s3cret-token", b"s3cret-token")]
    with pytest.raises(Forbidden) as refused:
        check_alertmanager({"authorization": "Bearer s3cret-tokeX"}, secret, BEARER)
    assert "s3cret" not in str(refused.value)  # the reason never echoes a credential
    with pytest.raises(Forbidden):
        check_alertmanager({"authorization": "Basic s3cret-token"}, secret, BEARER)  # right value, wrong scheme
    with pytest.raises(Unauthenticated):
        check_alertmanager({}, secret, BEARER)
    with pytest.raises(Forbidden):
        check_alertmanager({"authorization": "Bearer "}, {"token": ""}, BEARER)  # an empty secret admits no one


def test_basic_credentials_compare_both_parts_in_constant_time(compared: list[tuple[bytes, bytes]]) -> None:
    secret = {"username": "alertmanager", "password": "pa:ss"}
    check_alertmanager(_basic("alertmanager", "pa:ss"), secret, BASIC)  # the password may hold a colon
    assert len(compared) == 2
    for headers in (_basic("alertmanager", "nope"), _basic("other", "pa:ss"), {"authorization": "Basic %%%"}):
        with pytest.raises(Forbidden):
            check_alertmanager(headers, secret, BASIC)
    with pytest.raises(Forbidden):
        check_alertmanager({"authorization": "Bearer pa:ss"}, secret, BASIC)


def test_grafana_signatures_and_the_replay_window(compared: list[tuple[bytes, bytes]]) -> None:
    body, key, now = b'{"version":"1"}', {"hmac_key": "k" * 32}, NOW.timestamp()
    stamp = str(int(now) - 10)
    headers = {"x-grafana-alerting-signature": grafana_signature("k" * 32, stamp, body),
               "x-grafana-alerting-signature-timestamp": stamp}  # fmt: skip
    check_grafana(headers, body, key, BEARER, now)
    assert compared, "the signature is compared with hmac.compare_digest"
    cases: list[tuple[dict[str, str], type[Exception]]] = [
        ({**headers, "x-grafana-alerting-signature": "0" * 64}, Forbidden),
        ({"x-grafana-alerting-signature-timestamp": stamp}, Unauthenticated),
        ({"x-grafana-alerting-signature": headers["x-grafana-alerting-signature"]}, Unauthenticated),
    ]
    for stale in (int(now) - 301, int(now) + 301):  # replayed, or from the future
        old = str(stale)
        cases.append(({"x-grafana-alerting-signature": grafana_signature("k" * 32, old, body),
                       "x-grafana-alerting-signature-timestamp": old}, Forbidden))  # fmt: skip
    for odd in ("nan", "inf", "1e400", "soon"):  # signed, but not a time: refused, never a crash
        cases.append(({"x-grafana-alerting-signature": grafana_signature("k" * 32, odd, body),
                       "x-grafana-alerting-signature-timestamp": odd}, Forbidden))  # fmt: skip
    for bad, error in cases:
        with pytest.raises(error):
            check_grafana(bad, body, key, BEARER, now)
    with pytest.raises(Forbidden):
        check_grafana(headers, body + b" ", key, BEARER, now)  # the body is signed


def test_grafana_milliseconds_and_unsigned_timestamps() -> None:
    body, key, now = b"{}", {"hmac_key": "key"}, NOW.timestamp()
    millis = str(int(now * 1000))
    check_grafana({"X-Grafana-Alerting-Signature": grafana_signature("key", millis, body),
                   "X-Grafana-Alerting-Signature-Timestamp": millis}, body, key, BEARER, now)  # fmt: skip
    body_only = WebhookSettings(grafana_timestamp_header="")  # Grafana signs the body alone then
    check_grafana({"X-Grafana-Alerting-Signature": grafana_signature("key", None, body)}, body, key, body_only, now)
    with pytest.raises(Forbidden):
        check_grafana({"X-Grafana-Alerting-Signature": grafana_signature("key", "1", body)}, body, key, body_only, now)


#: what Alertmanager 0.25.0 (Debian's prometheus-alertmanager) POSTed for one alert posted to its API and then ended
#: (captured from a real run; only externalURL's host changed)
REAL_ALERTMANAGER = (
    '{"receiver":"hook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ServiceDown","host":"demo","service":"backend"},"annotations":{"summary":"down"},"startsAt":"2026-11-30T19:27:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"5e114fd942d2405f"}],"groupLabels":{},"commonLabels":{"alertname":"ServiceDown","host":"demo","service":"backend"},"commonAnnotations":{"summary":"down"},"externalURL":"http://127.0.0.1:19093","version":"4","groupKey":"{}:{}","truncatedAlerts":0}\n',
    '{"receiver":"hook","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"ServiceDown","host":"demo","service":"backend"},"annotations":{"summary":"down"},"startsAt":"2026-11-30T19:27:07Z","endsAt":"2026-11-30T19:27:13Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"5e114fd942d2405f"}],"groupLabels":{},"commonLabels":{"alertname":"ServiceDown","host":"demo","service":"backend"},"commonAnnotations":{"summary":"down"},"externalURL":"http://127.0.0.1:19093","version":"4","groupKey":"{}:{}","truncatedAlerts":0}\n',
)


def test_alertmanager_0_25_s_real_deliveries_parse_and_share_one_episode() -> None:
    firing, resolved = (alerts_of(AlertmanagerPayload.model_validate_json(body))[0] for body in REAL_ALERTMANAGER)
    assert (firing.status, resolved.status, firing.alertname) == ("firing", "resolved", "ServiceDown")
    assert firing.dedupe_key == resolved.dedupe_key  # the resolved one closes the firing one's audit entry


def _targets(**remediation: Any) -> TargetSet:
    return TargetSet(
        targets=(
            SshTarget(
                id="demo", address="Demo.Example.com", domain="demo.example.com", host_public_key=HOST_KEY,
                private_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf",
                remediation=RemediationSettings(**remediation),
            ),
            SsmTarget(id="ssm", instance_id="i-0123456789abcdef0", domain="ssm.example.com"),
        )
    )  # fmt: skip


def _alert(name: str = "ServiceDown", status: str = "firing", **labels: str) -> Alert:
    return Alert(
        source="alertmanager", alertname=name, status=status,
        labels={"alertname": name, **labels}, annotations={"summary": "down"}, fingerprint="abc123",
        starts_at=NOW - timedelta(minutes=1),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "target"),
    [
        ({"host": "demo"}, "demo"),
        ({"host": "demo.example.com"}, None),  # host is a target id, not an address
        ({"instance": "demo.example.com:9100"}, "demo"),
        ({"instance": "i-0123456789abcdef0"}, "ssm"),
        ({"instance": "ssm:8080"}, "ssm"),
        ({"instance": "[::1]:9100"}, None),
        ({"instance": "elsewhere:9100"}, None),
        ({}, None),
    ],
)
def test_an_alert_s_target(labels: dict[str, str], target: str | None) -> None:
    found = target_of(_alert(**labels), _targets())
    assert (found.id if found else None) == target


def test_execution_names_are_valid_and_the_same_for_every_re_send() -> None:
    alert = _alert(host="demo")
    long = alert.model_copy(update={"fingerprint": "f" * 64, "source": "grafana"})
    for name in (execution_name(alert), execution_name(long)):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert execution_name(alert) == execution_name(alert.model_copy())
    assert execution_name(alert) != execution_name(alert.model_copy(update={"starts_at": NOW}))


class FakeGuard:
    def __init__(self, settings: RemediationSettings) -> None:
        self.state = GuardState()
        self.settings = settings

    def admit(self, host: str, action: str, settings: RemediationSettings, now: datetime) -> Admission:
        admission, self.state = decide(self.state, settings, int(now.timestamp()))
        return admission

    def record_outcome(
        self, host: str, action: str, succeeded: bool, settings: RemediationSettings, now: datetime
    ) -> Admission:
        raise AssertionError("the webhook never records outcomes")


class FakeAudit:
    def __init__(self) -> None:
        self.entries_: list[AuditEntry] = []
        self.completed: list[tuple[str | None, str, str]] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries_.append(entry)

    def complete(
        self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
        execution_arn: str | None = None,
    ) -> None:  # fmt: skip
        self.completed.append((host, audit_id, status))

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return self.entries_[:limit]


class FakeStarter:
    def __init__(self) -> None:
        self.started: list[tuple[str, RemediationRequest]] = []

    def start(self, name: str, request: RemediationRequest) -> str:
        self.started.append((name, request))
        return f"arn:aws:states:us-east-1:123456789012:execution:remediation:{name}"


def _intake(targets: TargetSet) -> tuple[Intake, FakeStarter, FakeAudit, list[str], list[str]]:
    starter, audit = FakeStarter(), FakeAudit()
    notified: list[str] = []
    escalated: list[str] = []

    def note(box: list[str]) -> Callable[[str, str], None]:
        return lambda subject, _message: box.append(subject)

    intake = Intake(
        targets, guard=FakeGuard(targets.targets[0].remediation), audit=audit, starter=starter,
        notify=note(notified), escalate=note(escalated), now=NOW,
    )  # fmt: skip
    return intake, starter, audit, notified, escalated


@pytest.mark.parametrize(
    ("labels", "service"),
    [({"service": "worker"}, "worker"), ({"service": "not-ours"}, None), ({"service": "Bad Name"}, None), ({}, None)],
)
def test_compose_up_takes_the_alert_s_service_only_when_it_is_the_target_s(
    labels: dict[str, str], service: str | None
) -> None:
    intake, starter, audit, _, _ = _intake(_targets())
    decision = intake.firing(_alert(host="demo", **labels))
    assert decision.outcome == "started"
    ((name, request),) = starter.started
    assert (request.service, request.action) == (service, "compose-up")
    assert request.audit_id == audit.entries_[0].audit_id
    assert name == execution_name(_alert(host="demo"))


def test_rules_disabled_or_missing_notify_and_start_nothing() -> None:
    for targets, alert in (
        (_targets(enabled=False), _alert(host="demo")),
        (_targets(rules=(AlertRule(alert="DiskSpaceLow", action="disk-cleanup"),)), _alert(host="demo")),
        (_targets(), _alert("HighCpuUsage", host="demo")),  # its default rule is notify-only
    ):
        intake, starter, audit, notified, _ = _intake(targets)
        decision = intake.firing(alert)
        assert (decision.outcome, decision.action, starter.started) == ("notified", "notify-only", [])
        assert notified == [f"FreshTrack alert: {alert.alertname} on demo"]
        assert [e.status for e in audit.entries_] == ["notified"]


def test_past_the_rate_limit_alerts_are_suppressed_with_one_escalation() -> None:
    intake, starter, audit, _, escalated = _intake(_targets(max_attempts=2))
    outcomes = [intake.firing(_alert(host="demo").model_copy(update={"fingerprint": f"{i:x}"})).outcome
                for i in range(6)]  # fmt: skip
    assert outcomes == ["started", "started", "suppressed", "suppressed", "suppressed", "suppressed"]
    assert len(starter.started) == 2 and escalated == ["FreshTrack remediation suspended on demo"]
    assert [e.status for e in audit.entries_].count("suppressed") == 4


def test_resolved_alerts_close_their_entry_and_start_nothing() -> None:
    intake, starter, audit, notified, _ = _intake(_targets())
    alert = _alert(host="demo", status="resolved")
    assert intake.resolved(alert).outcome == "resolved"
    assert audit.completed == [("demo", alert.dedupe_key, "resolved")]
    assert starter.started == [] and notified == []


def test_an_unknown_target_is_recorded_and_ignored() -> None:
    intake, starter, audit, notified, _ = _intake(_targets())
    decision = intake.firing(_alert(host="nowhere"))
    assert decision.outcome == "ignored" and "nowhere" in decision.reason
    assert [(e.status, e.host) for e in audit.entries_] == [("ignored", None)]
    assert starter.started == [] and notified == []


def test_a_name_started_before_is_that_alert_s_execution_not_an_error() -> None:
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:remediation"
    starter = SfnRemediationStarter(client, machine)
    request = RemediationRequest(
        host="demo", action="compose-up", service=None, dry_run=False, audit_id="alertmanager-abc123-1",
        alert=AlertRef(source="alertmanager", alertname="ServiceDown", fingerprint="abc123", starts_at=NOW, summary=""),
    )  # fmt: skip
    with Stubber(client) as stub:
        stub.add_client_error("start_execution", "ExecutionAlreadyExists", "Execution Already Exists: 'x'")
        stub.add_client_error("start_execution", "StateMachineDoesNotExist", "no")
        arn = starter.start("alert-x", request)
        assert arn == "arn:aws:states:us-east-1:123456789012:execution:remediation:alert-x"
        with pytest.raises(ClientError):  # any other failure is the AWS failure it is (a 5xx: the sender retries)
            starter.start("alert-x", request)
