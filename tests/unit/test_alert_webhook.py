"""The alert webhook handler on moto: every refusal a 4xx with nothing started, dedupe per alert episode, resolved
alerts closing their audit entry, unknown targets ignored, the guard holding a storm, and fuzzed bodies and headers
never producing a 5xx or a start."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from freshtrack_ops import runtime
from freshtrack_ops.alerts.auth import grafana_signature
from freshtrack_ops.alerts.settings import WebhookSettings
from freshtrack_ops.config import SshTarget, SsmTarget, TargetSet
from freshtrack_ops.handlers import alerts
from freshtrack_ops.remediation.settings import RemediationSettings
from opsctl.local.monitoring.bridge import make_event

REGION = "us-east-1"
TABLE = "ops"
TOKEN = "t" * 40
HMAC_KEY = "k" * 40
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"


class Context:
    function_name = "AlertWebhook"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AlertWebhook"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


@dataclass
class World:
    sfn: Any
    sns_topic: str
    sqs: Any
    queue_url: str
    state_machine_arn: str
    table: str

    def post(
        self, path: str, body: bytes, headers: dict[str, str], *, base64_body: bool = False
    ) -> tuple[int, dict[str, Any]]:
        event = make_event(
            method="POST", path=path, query="", headers=list(headers.items()), body=body, source_ip="127.0.0.1"
        )
        if base64_body:  # what API Gateway does with a body it takes for binary
            event |= {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
        answer = alerts.handler(event, Context())
        return int(answer["statusCode"]), json.loads(answer.get("body") or "{}")

    def executions(self) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"])

    def notifications(self) -> list[str]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["Subject"] for m in messages]


def _targets(**remediation: Any) -> TargetSet:
    return TargetSet(
        targets=(
            SshTarget(
                id="demo", address="127.0.0.1", port=2201, domain="demo.freshtrack.local", host_public_key=HOST_KEY,
                private_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf",
                remediation=RemediationSettings(**remediation),
            ),
            SsmTarget(id="demo-ssm", instance_id="mi-0123456789abcdef0", domain="ssm.freshtrack.local"),
        )
    )  # fmt: skip


@dataclass
class Shared:
    sfn: Any
    sns: Any
    sqs: Any
    topic: str
    alertmanager_secret: str
    grafana_secret: str


@pytest.fixture(scope="module")
def shared() -> Iterator[Shared]:
    """One moto world per module: runtime's clients (a botocore session each, ~0.1 s to build) are built once."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {
            "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
        }.items():  # fmt: skip
            env.setenv(name, value)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        am = secrets.create_secret(Name="am", SecretString=json.dumps({"token": TOKEN}))["ARN"]
        gr = secrets.create_secret(Name="gr", SecretString=json.dumps({"hmac_key": HMAC_KEY}))["ARN"]
        sns = boto3.client("sns", region_name=REGION)
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/ops/targets", Value=_targets().parameter_json(), Type="String"
        )
        runtime.reset()
        try:
            yield Shared(
                boto3.client("stepfunctions", region_name=REGION), sns, boto3.client("sqs", region_name=REGION),
                sns.create_topic(Name="ops")["TopicArn"], am, gr,
            )  # fmt: skip
        finally:
            runtime.reset()


_worlds = itertools.count()


@pytest.fixture
def world(shared: Shared) -> Iterator[World]:
    """A table, a state machine and a notification queue of the test's own in the module's moto world."""
    n = next(_worlds)
    table = f"{TABLE}-{n}"
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}
        ],
    )  # fmt: skip
    machine = shared.sfn.create_state_machine(
        name=f"remediation-{n}", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    queue = shared.sqs.create_queue(QueueName=f"notes-{n}")["QueueUrl"]
    queue_arn = shared.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = shared.sns.subscribe(
        TopicArn=shared.topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"}
    )["SubscriptionArn"]
    runtime.configure(
        runtime.Settings(
            backup_bucket="bucket", ops_table=table, targets_parameter="/ops/targets",
            notification_topic_arn=shared.topic, remediation_state_machine_arn=machine,
            alertmanager_secret_arn=shared.alertmanager_secret, grafana_secret_arn=shared.grafana_secret,
            webhook_settings=WebhookSettings(max_body_bytes=64 * 1024).model_dump_json(),
        )
    )  # fmt: skip
    try:
        yield World(shared.sfn, shared.topic, shared.sqs, queue, machine, table)
    finally:
        shared.sns.unsubscribe(SubscriptionArn=subscription)
        runtime.configure(None)
        alerts._once.cache_clear()


def _alert(
    name: str = "ServiceDown", fingerprint: str = "0123456789abcdef", status: str = "firing", **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "host": "demo", "service": "backend", **labels},
        "annotations": {"summary": f"{name} on demo"},
        "startsAt": "2026-11-30T19:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-30T19:05:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    }


def _payload(*alerts_: dict[str, Any], version: str = "4", status: str = "firing") -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": version, "groupKey": '{}:{alertname="ServiceDown"}', "truncatedAlerts": 0, "status": status,
        "receiver": "freshtrack-ops", "groupLabels": {"alertname": "ServiceDown"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": list(alerts_),
    }  # fmt: skip
    if version == "1":
        body |= {"orgId": 1, "state": "alerting", "title": "[FIRING:1] ServiceDown", "message": "backend down"}
    return body


AM_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _grafana_headers(body: bytes, timestamp: int | None = None, key: str = HMAC_KEY) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Grafana-Alerting-Signature": grafana_signature(key, stamp, body),
        "X-Grafana-Alerting-Signature-Timestamp": stamp,
    }


def test_a_firing_alert_starts_its_rule_s_remediation_and_says_so(world: World) -> None:
    status, answer = world.post("/alertmanager", json.dumps(_payload(_alert())).encode(), AM_HEADERS)
    assert status == 202
    (decision,) = answer["alerts"]
    assert decision["outcome"] == "started" and decision["action"] == "compose-up" and decision["host"] == "demo"
    (execution,) = world.executions()
    request = json.loads(world.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert request["service"] == "backend" and request["alert"]["fingerprint"] == "0123456789abcdef"
    assert TOKEN not in json.dumps(request)
    entries = runtime.audit_log().entries("demo")
    assert [(e.status, e.execution_arn) for e in entries] == [("started", execution["executionArn"])]


def test_re_sends_of_one_alert_start_one_execution(world: World) -> None:
    body = json.dumps(_payload(_alert())).encode()
    answers = [world.post("/alertmanager", body, AM_HEADERS) for _ in range(3)]
    assert [status for status, _ in answers] == [202, 202, 202]
    assert [a["alerts"][0]["outcome"] for _, a in answers] == ["started", "deduplicated", "deduplicated"]
    assert len({a["alerts"][0]["execution_arn"] for _, a in answers}) == 1
    assert len(world.executions()) == 1


def test_a_resolved_alert_starts_nothing_and_closes_its_audit_entry(world: World) -> None:
    world.post("/alertmanager", json.dumps(_payload(_alert())).encode(), AM_HEADERS)
    resolved = json.dumps(_payload(_alert(status="resolved"), status="resolved")).encode()
    status, answer = world.post("/alertmanager", resolved, AM_HEADERS)
    assert status == 202 and answer["alerts"][0]["outcome"] == "resolved"
    assert len(world.executions()) == 1
    assert [e.status for e in runtime.audit_log().entries("demo")] == ["resolved"]


def test_an_alert_for_no_known_target_is_recorded_and_ignored(world: World) -> None:
    alert = _alert(host="elsewhere")
    status, answer = world.post("/alertmanager", json.dumps(_payload(alert)).encode(), AM_HEADERS)
    assert status == 202 and answer["alerts"][0]["outcome"] == "ignored"
    assert world.executions() == []
    assert [e.status for e in runtime.audit_log().entries(None)] == ["ignored"]


def test_the_instance_label_finds_a_target_by_address_or_instance_id(world: World) -> None:
    by_address = _alert(fingerprint="1")
    by_address["labels"] = {"alertname": "ServiceDown", "instance": "127.0.0.1:9100"}
    by_instance = _alert(fingerprint="2")
    by_instance["labels"] = {"alertname": "ServiceDown", "instance": "mi-0123456789abcdef0"}
    status, answer = world.post("/alertmanager", json.dumps(_payload(by_address, by_instance)).encode(), AM_HEADERS)
    assert status == 202
    assert [a["host"] for a in answer["alerts"]] == ["demo", "demo-ssm"]


def test_an_alert_without_a_rule_is_notified_not_remediated(world: World) -> None:
    status, answer = world.post("/alertmanager", json.dumps(_payload(_alert("HighCpuUsage"))).encode(), AM_HEADERS)
    assert status == 202 and answer["alerts"][0]["outcome"] == "notified"
    assert world.executions() == []
    assert world.notifications() == ["FreshTrack alert: HighCpuUsage on demo"]


def test_a_storm_is_held_by_the_rate_limit_with_one_escalation(world: World) -> None:
    storm = [_alert(fingerprint=f"{i:016x}") for i in range(200)]
    status, answer = world.post("/alertmanager", json.dumps(_payload(*storm)).encode(), AM_HEADERS)
    assert status == 202
    outcomes = [a["outcome"] for a in answer["alerts"]]
    assert outcomes.count("started") == RemediationSettings().max_attempts
    assert outcomes.count("suppressed") == 200 - RemediationSettings().max_attempts
    assert len(world.executions()) == RemediationSettings().max_attempts
    assert world.notifications() == ["FreshTrack remediation suspended on demo"]


def test_a_suppressed_alert_is_asked_again_on_its_re_send_and_acts_once_the_window_passed(world: World) -> None:
    limit = RemediationSettings().max_attempts
    storm = json.dumps(_payload(*[_alert(fingerprint=f"{i:016x}") for i in range(limit + 1)])).encode()
    assert [a["outcome"] for a in world.post("/alertmanager", storm, AM_HEADERS)[1]["alerts"]][-1] == "suppressed"
    last = json.dumps(_payload(_alert(fingerprint=f"{limit:016x}"))).encode()
    assert world.post("/alertmanager", last, AM_HEADERS)[1]["alerts"][0]["outcome"] == "suppressed"  # not remembered
    boto3.client("dynamodb", region_name=REGION).delete_item(  # the window passed: the guard's counters are gone
        TableName=world.table, Key={"pk": {"S": "REMEDIATION#demo"}, "sk": {"S": "GUARD#compose-up"}}
    )
    assert world.post("/alertmanager", last, AM_HEADERS)[1]["alerts"][0]["outcome"] == "started"
    assert len(world.executions()) == limit + 1
    assert world.notifications() == ["FreshTrack remediation suspended on demo"]  # escalated once


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "application/json"}, None, 401),
        ({"Authorization": "Bearer wrong", "Content-Type": "application/json"}, None, 403),
        (
            {"Authorization": f"Basic {base64.b64encode(b'a:b').decode()}", "Content-Type": "application/json"},
            None,
            403,
        ),
        ({**AM_HEADERS, "Content-Type": "text/plain"}, None, 415),
        (AM_HEADERS, b"{not json", 400),
        (AM_HEADERS, json.dumps(_payload(_alert(), version="3")).encode(), 400),
        (AM_HEADERS, json.dumps(_payload(_alert()) | {"extra": 1}).encode(), 400),
        (AM_HEADERS, b"x" * (64 * 1024 + 1), 413),
    ],
)
def test_alertmanager_refusals_are_4xx_with_a_reason_and_start_nothing(
    world: World, headers: dict[str, str], body: bytes | None, status: int
) -> None:
    got, answer = world.post("/alertmanager", body or json.dumps(_payload(_alert())).encode(), headers)
    assert got == status, answer
    assert answer["error"] and TOKEN not in answer["error"]
    assert world.executions() == []


def test_grafana_valid_wrong_missing_and_replayed_signatures(world: World) -> None:
    body = json.dumps(_payload(_alert(), version="1")).encode()
    assert world.post("/grafana", body, _grafana_headers(body, key="other"))[0] == 403
    assert world.post("/grafana", body, {"Content-Type": "application/json"})[0] == 401
    assert world.post("/grafana", body, _grafana_headers(body, timestamp=int(time.time()) - 3600))[0] == 403
    tampered = body.replace(b"backend", b"worker!")
    assert world.post("/grafana", tampered, _grafana_headers(body))[0] == 403
    assert world.executions() == []
    status, answer = world.post("/grafana", body, _grafana_headers(body))
    assert status == 202 and answer["alerts"][0]["outcome"] == "started"
    assert len(world.executions()) == 1


def test_a_base64_encoded_body_is_decoded_and_its_size_checked_decoded(world: World) -> None:
    body = json.dumps(_payload(_alert())).encode()
    headers = {**AM_HEADERS, "Content-Type": "application/json; charset=utf-8"}
    status, answer = world.post("/alertmanager", body, headers, base64_body=True)
    assert status == 202 and answer["alerts"][0]["outcome"] == "started"
    padded = json.dumps(_payload(_alert(fingerprint="1")) | {"pad": "x" * 64 * 1024}).encode()
    status, answer = world.post("/alertmanager", padded, AM_HEADERS, base64_body=True)
    assert status == 413 and len(world.executions()) == 1


def test_one_alert_twice_in_one_delivery_starts_once(world: World) -> None:
    status, answer = world.post("/alertmanager", json.dumps(_payload(_alert(), _alert())).encode(), AM_HEADERS)
    assert status == 202
    assert [a["outcome"] for a in answer["alerts"]] == ["started", "deduplicated"]
    assert len(world.executions()) == 1


def test_a_downstream_aws_failure_is_a_5xx_so_the_sender_retries(world: World) -> None:
    """Not bad input: Alertmanager retries a 5xx, and the dedupe record makes the retry start nothing twice."""
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=world.table)
    with pytest.raises(ClientError):  # unhandled in the function: API Gateway answers 500
        world.post("/alertmanager", json.dumps(_payload(_alert())).encode(), AM_HEADERS)
    assert world.executions() == []


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


_alert_like = st.fixed_dictionaries(
    {}, optional={"status": _json_values, "labels": _json_values, "fingerprint": st.text(max_size=20)}
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda v: json.dumps(v).encode()),
    _alert_like.map(lambda a: json.dumps(_payload(a)).encode()),
    _alert_like.map(lambda a: json.dumps(_payload(a, version="1")).encode()),
)
_random_headers = st.dictionaries(
    st.sampled_from(["Authorization", "Content-Type", "X-Grafana-Alerting-Signature",
                     "X-Grafana-Alerting-Signature-Timestamp", "X-Other"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60), max_size=5,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/alertmanager", "/grafana"]), body=_bodies, authentic=st.booleans(), noise=_random_headers
)
def test_fuzzed_requests_never_get_a_5xx_nor_start_anything(
    world: World, path: str, body: bytes, authentic: bool, noise: dict[str, str]
) -> None:
    """Half the requests carry valid credentials, so their bodies reach the parser."""
    valid = AM_HEADERS if path == "/alertmanager" else _grafana_headers(body)
    headers = {**noise, **valid} if authentic else noise
    started = len(world.executions())
    status, answer = world.post(path, body, headers)
    assert 400 <= status < 500 or status == 202, answer
    if status != 202:
        assert len(world.executions()) == started


def test_one_alert_twice_in_a_suppressed_delivery_is_audited_once_without_a_5xx(world: World) -> None:
    storm = [_alert(fingerprint=f"{i:016x}") for i in range(5)]
    twice = _alert(fingerprint="00000000000000ff")
    status, answer = world.post("/alertmanager", json.dumps(_payload(*storm, twice, twice)).encode(), AM_HEADERS)
    assert status == 202
    assert [a["outcome"] for a in answer["alerts"]][-2:] == ["suppressed", "suppressed"]
    audited = [e.audit_id for e in runtime.audit_log().entries("demo")]
    assert len(audited) == len(set(audited)) == 6
