"""Alerts that heal, end to end with the real monitoring stack: Prometheus 2.42 scrapes the backend behind a real
Caddy 2.6, Alertmanager 0.25 delivers to the webhook (the API Gateway stand-in in front of the real handler), the
remediation workflow restarts what is down; and the webhook path over SSM with Grafana-signed deliveries."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshtrack_ops import runtime
from opsctl.local import iam
from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available
from tests.integration.conftest import post_webhook


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=2_000, use_sshd=True, monitoring=True) as local_plane:
        yield local_plane


def _status(url: str) -> int:
    """GET with TLS verification on (the plane trusts Caddy's internal CA through SSL_CERT_FILE)."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context()) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _ended(plane: LocalPlane, count: int, timeout_s: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = plane.executions("remediation")
        if len(runs) >= count and all(run["status"] != "RUNNING" for run in runs):
            return runs
        time.sleep(0.2)
    raise TimeoutError(f"{count} remediation(s) not ended after {timeout_s} s: {plane.executions('remediation')}")


def _audit_entry_when(match: Callable[[Any], bool], host: str, timeout_s: float = 30.0) -> Any:
    """The audit entry of ``host`` that ``match`` accepts, once there is one (Alertmanager sends the resolution at
    its next group flush after Prometheus stops firing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with iam.plane_calls():
            found = [e for e in runtime.audit_log().entries(host) if match(e)]
        if found or time.monotonic() > deadline:
            assert found, f"no matching audit entry of {host} after {timeout_s} s"
            return found[0]
        time.sleep(0.2)


def test_a_stopped_backend_is_healed_by_the_alert_and_its_resolution_starts_nothing(plane: LocalPlane) -> None:
    health = plane.monitoring.caddy_url("demo")
    assert _status(health) == 200
    before = len(plane.executions("remediation"))

    plane.host("demo").crash_service("backend")
    assert _status(health) == 502, "Caddy answers 502 for a stopped backend"

    plane.monitoring.wait_alert("ServiceDown", host="demo", source="alertmanager", timeout_s=30)
    runs = _ended(plane, before + 1)
    assert [run["status"] for run in runs[: len(runs) - before]] == ["SUCCEEDED"]
    assert _status(health) == 200 and plane.host("demo").services()["backend"] == "running"

    plane.monitoring.wait_alert("ServiceDown", host="demo", resolved=True, source="alertmanager", timeout_s=30)
    entry = _audit_entry_when(lambda e: e.alertname == "ServiceDown" and e.status == "resolved", "demo")
    assert entry.detail.startswith("succeeded:"), entry.detail
    plane.wait_idle(60)
    assert len(plane.executions("remediation")) == before + 1, "a resolved alert starts nothing"
    assert all(status < 500 for _, status in plane.webhook_answers)
    subjects = [n["Subject"] for n in plane.notifications()]
    assert "FreshTrack remediation succeeded" in subjects


def _grafana_body(alertname: str, fingerprint: str, host: str, **labels: str) -> bytes:
    alert = {
        "status": "firing", "labels": {"alertname": alertname, "host": host, **labels}, "annotations": {},
        "startsAt": "2026-11-30T19:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
        "fingerprint": fingerprint, "silenceURL": "", "dashboardURL": "", "panelURL": "", "values": {"A": 96.0},
        "valueString": "[ var='A' value=96 ]",
    }  # fmt: skip
    return json.dumps(
        {
            "version": "1", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "ops",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:3000/",
            "orgId": 1, "state": "alerting", "title": f"[FIRING:1] {alertname}", "message": "", "alerts": [alert],
        }
    ).encode()  # fmt: skip


def test_grafana_deliveries_over_ssm_duplicates_start_one_remediation(plane: LocalPlane) -> None:
    host = plane.host("demo-ssm")
    host.set_memory_fault("worker", 96.0)
    url, headers = plane.webhook("grafana")
    body = _grafana_body("HighMemoryUsage", "00000000000000a1", "demo-ssm")
    before = len(plane.executions("remediation"))

    answers = [post_webhook(url, {**headers, **plane.sign_grafana(body)}, body) for _ in range(3)]

    assert [status for status, _ in answers] == [202, 202, 202]
    assert [a["alerts"][0]["outcome"] for _, a in answers] == ["started", "deduplicated", "deduplicated"]
    runs = _ended(plane, before + 1)
    assert len(runs) == before + 1 and runs[0]["status"] == "SUCCEEDED", runs[0]
    stats = plane.host("demo-ssm").commands()
    assert ["compose", "restart", "worker"] in [c[-3:] for c in stats], "the top allowed memory consumer restarted"


def test_wrong_missing_and_replayed_grafana_signatures_start_nothing(plane: LocalPlane) -> None:
    url, headers = plane.webhook("grafana")
    body = _grafana_body("ServiceDown", "00000000000000b2", "demo-ssm", service="backend")
    before = len(plane.executions("remediation"))
    wrong = {**headers, **plane.sign_grafana(body.replace(b"backend", b"worker!"))}
    replayed = {**headers, **plane.sign_grafana(body, timestamp=int(time.time()) - 3600)}
    assert post_webhook(url, wrong, body)[0] == 403
    assert post_webhook(url, headers, body)[0] == 401
    assert post_webhook(url, replayed, body)[0] == 403
    assert post_webhook(url, {**headers, "Content-Type": "text/plain", **plane.sign_grafana(body)}, body)[0] == 415
    am_url, am_headers = plane.webhook("alertmanager")
    assert post_webhook(am_url, {**am_headers, "Authorization": "Bearer nope"}, b"{}")[0] == 403
    assert post_webhook(am_url, am_headers, b'{"version": "4"}')[0] == 400
    plane.wait_idle(30)
    assert len(plane.executions("remediation")) == before


def test_a_storm_over_http_is_held_by_the_rate_limit_with_one_escalation_and_no_5xx(plane: LocalPlane) -> None:
    url, headers = plane.webhook("alertmanager")
    before = len(plane.executions("remediation"))
    seen = len(plane.notifications())
    alerts = [
        {
            "status": "firing", "labels": {"alertname": "DiskSpaceLow", "host": "demo-ssm"}, "annotations": {},
            "startsAt": "2026-11-30T19:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
            "fingerprint": f"{i:016x}",
        }
        for i in range(200)
    ]  # fmt: skip
    statuses: list[int] = []
    for batch in range(0, 200, 20):  # ten deliveries of 20, as Alertmanager groups a storm
        body = json.dumps(
            {
                "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "ops",
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
                "alerts": alerts[batch : batch + 20],
            }
        ).encode()  # fmt: skip
        statuses.append(post_webhook(url, headers, body)[0])
    assert statuses == [202] * 10
    plane.wait_idle(120)
    started = plane.executions("remediation")[: len(plane.executions("remediation")) - before]
    assert len(started) == plane.target("demo-ssm").remediation.max_attempts
    escalations = [
        n for n in plane.notifications()[seen:] if n["Subject"] == "FreshTrack remediation suspended on demo-ssm"
    ]
    assert len(escalations) == 1
    assert all("--volumes" not in " ".join(c) for c in plane.host("demo-ssm").commands())
