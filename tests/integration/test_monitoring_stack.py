"""The local plane's real monitoring stack (opsctl/local/monitoring): Caddy with its internal CA in front of a backend
process the docker shim starts and stops, Prometheus with the manual's rules, Alertmanager delivering to the plane's
webhook bridge with bearer auth. The deliveries are captured by a fake AlertWebhook handler."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsctl.local.monitoring import alertmanager, prometheus
from opsctl.local.monitoring.bridge import MAX_PAYLOAD_BYTES, WebhookBridge, handler_invoker
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import sshd_plane


class Deliveries:
    """A fake AlertWebhook handler: keeps every event, answers 202."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.slow_started = threading.Event()

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        if event["rawQueryString"] == "slow=1":
            self.slow_started.set()
            time.sleep(1.0)
        with self._lock:
            self.events.append(event)
        return {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": '{"accepted": 1}'}

    def alertmanager(self, alertname: str, status: str) -> list[dict[str, Any]]:
        """Bodies of the Alertmanager deliveries of ``alertname`` with ``status`` so far."""
        with self._lock:
            bodies = [json.loads(e["body"]) for e in self.events if e["rawPath"] == "/alertmanager"]
        return [b for b in bodies if b["status"] == status and b["groupLabels"].get("alertname") == alertname]

    def wait(self, alertname: str, status: str, timeout_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.alertmanager(alertname, status)
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no {status} {alertname} delivery in {timeout_s} s")


DELIVERIES = Deliveries()


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane(
        readings=500, hosts=("demo",), ssm_hosts=(), monitoring=True, webhook_handler=DELIVERIES
    ) as local_plane:
        yield local_plane


def compose(plane: LocalPlane, *args: str) -> None:
    host = plane.host("demo")
    subprocess.run([str(host.docker_bin), "compose", *args], check=True, env=host.env(), capture_output=True)


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def processes_under(root: Path) -> list[str]:
    """Command lines of every process (but this one) that names a path under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if str(root) in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_caddy_serves_the_health_url_over_verified_tls(plane: LocalPlane) -> None:
    stack = plane.monitoring
    url = stack.caddy_url("demo")
    assert plane.target("demo").effective_health_url == url
    assert plane.target("demo").remediation.certificate_port == stack.caddy_port("demo")
    assert plane.target("demo").remediation.certificate_min_days == 0
    # the tasks' way: Python's default context, which reads the plane's SSL_CERT_FILE (the CA bundle)
    assert get(url) == (200, b'{"status": "ok", "version": "1.2.0"}')
    # a context that trusts only the system CAs refuses Caddy's internal CA: verification is really on
    system_only = ssl.create_default_context(cafile=ssl.get_default_verify_paths().openssl_cafile)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        get(url, system_only)


def test_certificate_check_reads_a_real_certificate_for_the_domain(plane: LocalPlane) -> None:
    port = plane.monitoring.caddy_port("demo")
    root_ca = plane.monitoring.hosts["demo"].caddy.root_ca
    served = subprocess.run(
        [
            *("openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "demo.freshtrack.local"),
            *("-CAfile", str(root_ca), "-verify_return_error"),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert "Verify return code: 0 (ok)" in served
    pem = served[served.index("-----BEGIN CERTIFICATE-----") : served.index("-----END CERTIFICATE-----") + 25]
    details = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-enddate"],
        input=pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:demo.freshtrack.local" in details
    not_after = datetime.strptime(details.split("notAfter=")[1].strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    # Caddy's internal CA issues short-lived leaves (12 h): hence certificate_min_days 0 on the local plane
    assert timedelta(0) < not_after - datetime.now(UTC) <= timedelta(hours=13)


def test_the_rules_and_configs_pass_their_checkers(plane: LocalPlane) -> None:
    stack = plane.monitoring
    for argv in (
        [str(prometheus.PROMTOOL), "check", "rules", str(stack.prometheus.rules_file)],
        [str(prometheus.PROMTOOL), "check", "config", str(stack.prometheus.config_file)],
        ["amtool", "check-config", str(stack.alertmanager.config_file)],
    ):
        checked = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert checked.returncode == 0, (argv, checked.stdout, checked.stderr)
    assert stack.alertmanager.credentials_file.stat().st_mode & 0o777 == 0o600
    token = plane.webhook("alertmanager")[1]["Authorization"].removeprefix("Bearer ")
    assert token not in stack.alertmanager.config_file.read_text()
    assert alertmanager.REPEAT_INTERVAL == "1h"


def test_stopped_backend_gives_502_fires_service_down_and_resolves(plane: LocalPlane) -> None:
    stack = plane.monitoring
    url = stack.caddy_url("demo")
    pid = stack.backend_pid("demo")
    assert pid is not None
    compose(plane, "stop", "backend")
    assert stack.backend_pid("demo") is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2][:3]
    status, body = get(url)
    assert status == 502 and body == b""  # Caddy's own bad gateway: nothing listens behind it

    stopped = time.monotonic()
    firing = stack.wait_alert("ServiceDown", host="demo", timeout_s=15)
    assert firing[0]["labels"] | {"service": "backend", "host": "demo", "job": "backend"} == firing[0]["labels"]
    delivery = DELIVERIES.wait("ServiceDown", "firing")
    fired_after = time.monotonic() - stopped
    assert delivery["version"] == "4"
    assert delivery["groupLabels"] == {"alertname": "ServiceDown", "host": "demo"}
    (alert,) = delivery["alerts"]
    assert alert["labels"]["service"] == "backend" and alert["status"] == "firing" and alert["fingerprint"]
    event = next(e for e in DELIVERIES.events if json.loads(e["body"]) == delivery)
    assert event["headers"]["authorization"] == plane.webhook("alertmanager")[1]["Authorization"]
    assert event["routeKey"] == "POST /alertmanager" and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["userAgent"].startswith("Alertmanager/")
    # scrape 1 s + for 2 s + evaluation 1 s + group_wait 1 s, with slack for a loaded machine
    assert fired_after < 10, fired_after

    compose(plane, "start", "backend")
    assert get(url)[0] == 200
    stack.wait_alert("ServiceDown", host="demo", resolved=True, timeout_s=15)
    resolved = DELIVERIES.wait("ServiceDown", "resolved")
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved["alerts"][0]["startsAt"] == alert["startsAt"]
    assert plane.webhook_answers and all(status == 202 for _path, status in plane.webhook_answers)


def test_restart_runs_a_new_backend_process(plane: LocalPlane) -> None:
    before = plane.monitoring.backend_pid("demo")
    compose(plane, "restart", "backend")
    after = plane.monitoring.backend_pid("demo")
    assert before is not None and after is not None and after != before
    assert get(plane.monitoring.caddy_url("demo"))[0] == 200


def test_memory_fault_fires_high_memory_usage(plane: LocalPlane) -> None:
    stack = plane.monitoring
    host = plane.host("demo")
    host.set_fault("stats", {"backend": {"mem_percent": 96.0}})
    try:
        (firing,) = stack.wait_alert("HighMemoryUsage", host="demo", timeout_s=15)
        assert firing["labels"]["service"] == "backend" and float(firing["value"]) == pytest.approx(96.0)
        delivery = DELIVERIES.wait("HighMemoryUsage", "firing")
        assert delivery["commonLabels"]["service"] == "backend"
    finally:
        host.set_fault("stats", None)
    stack.wait_alert("HighMemoryUsage", host="demo", resolved=True, timeout_s=15)


def test_webhook_credentials_are_the_secrets(plane: LocalPlane) -> None:
    sm = plane.client("secretsmanager")
    secrets = {
        name: json.loads(sm.get_secret_value(SecretId=f"freshtrack-ops/local/webhook/{name}")["SecretString"])
        for name in ("alertmanager", "grafana")
    }
    url, headers = plane.webhook("alertmanager")
    assert url.endswith("/alertmanager") and headers["Authorization"] == f"Bearer {secrets['alertmanager']['token']}"
    url, headers = plane.webhook("grafana")
    assert url.endswith("/grafana") and not any("signature" in h.lower() for h in headers)
    body = b'{"status": "firing"}'
    signed = plane.sign_grafana(body, timestamp=1_700_000_000)
    expected = hmac.new(secrets["grafana"]["hmac_key"].encode(), b"1700000000:" + body, hashlib.sha256).hexdigest()
    assert signed == {
        "X-Grafana-Alerting-Signature": expected,
        "X-Grafana-Alerting-Signature-Timestamp": "1700000000",
    }
    request = urllib.request.Request(url, data=body, headers=headers | signed, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
    event = DELIVERIES.events[-1]
    assert event["routeKey"] == "POST /grafana" and event["body"] == body.decode()
    assert event["headers"]["x-grafana-alerting-signature"] == expected


def test_wait_idle_waits_for_a_webhook_request_in_flight(plane: LocalPlane) -> None:
    url, headers = plane.webhook("alertmanager")
    request = urllib.request.Request(f"{url}?slow=1", data=b"{}", headers=headers, method="POST")
    sender = threading.Thread(target=lambda: urllib.request.urlopen(request, timeout=10).close())
    sender.start()
    assert DELIVERIES.slow_started.wait(5)
    began = time.monotonic()
    plane.wait_idle(timeout_s=10)
    # it returned only once the handler had finished (Alertmanager may deliver meanwhile: count only this one)
    assert [e for e in DELIVERIES.events if e["rawQueryString"] == "slow=1"]
    assert time.monotonic() - began > 0.5
    sender.join(5)


def echo_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Routed as the AlertWebhook function for one test: what API Gateway's integration handed it."""
    return {"statusCode": 207, "body": json.dumps({"function": context.function_name, "path": event["rawPath"]})}


def test_bridge_invokes_the_alert_webhook_function_by_default(plane: LocalPlane) -> None:
    from opsctl.local import moto_patches
    from opsctl.local.monitoring.bridge import lambda_invoker
    from opsctl.local.names import function_name

    name = function_name("AlertWebhook")
    deployed = moto_patches.STATE.routes[name]
    assert deployed[0] == "freshtrack_ops.handlers.alerts.handler"
    moto_patches.STATE.routes[name] = (f"{__name__}.echo_handler", deployed[1], deployed[2])
    server = WebhookBridge(lambda_invoker("AlertWebhook"))
    server.start()
    try:
        status, _headers, body = post(server.url, "/grafana", b"{}")
    finally:
        server.stop()
        moto_patches.STATE.routes[name] = deployed
    assert (status, json.loads(body)) == (207, {"function": name, "path": "/grafana"})


def test_stop_leaves_no_process_behind(plane: LocalPlane) -> None:
    root = plane.root
    assert processes_under(root), "the stack should be running before the stop"
    began = time.monotonic()
    plane.stop()
    assert processes_under(root) == []
    assert time.monotonic() - began < 15


# -- the bridge on its own ------------------------------------------------------------------------------------
@pytest.fixture
def bridge() -> Iterator[tuple[WebhookBridge, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], _context: Any) -> Any:
        events.append(event)
        if event["rawQueryString"] == "fail=1":
            raise RuntimeError("boom")
        if event["rawQueryString"] == "plain=1":
            return {"ok": True}
        return {"statusCode": 400, "headers": {"X-Reason": "bad"}, "body": "bad body"}

    server = WebhookBridge(handler_invoker(handler))
    server.start()
    yield server, events
    server.stop()


def post(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_bridge_builds_payload_v2_events_and_relays_answers(bridge: tuple[WebhookBridge, list[dict[str, Any]]]) -> None:
    server, events = bridge
    status, headers, body = post(
        server.url, "/alertmanager?a=1", b'{"x": 1}', {"X-Multi": "v", "Cookie": "c=1; d=2", "User-Agent": "ua/1"}
    )
    assert (status, headers["x-reason"], body) == (400, "bad", b"bad body")
    (event,) = events
    assert event["version"] == "2.0" and event["routeKey"] == "POST /alertmanager"
    assert (event["rawPath"], event["rawQueryString"], event["queryStringParameters"]) == (
        "/alertmanager",
        "a=1",
        {"a": "1"},
    )
    assert event["headers"]["x-multi"] == "v" and event["cookies"] == ["c=1", "d=2"]
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "$default" and context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"] == "ua/1" and context["requestId"] and context["timeEpoch"] > 0

    assert post(server.url, "/grafana?plain=1", b"{}")[::2] == (200, b'{"ok": true}')
    assert post(server.url, "/grafana?fail=1", b"{}")[::2] == (500, b'{"message":"Internal Server Error"}')
    assert post(server.url, "/elsewhere", b"{}")[::2] == (404, b'{"message":"Not Found"}')
    assert len(events) == 3  # the unknown route invoked nothing


def test_bridge_refuses_payloads_over_api_gateways_10_mb(bridge: tuple[WebhookBridge, list[dict[str, Any]]]) -> None:
    server, events = bridge
    status, _headers, body = post(server.url, "/alertmanager", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert (status, body) == (413, b'{"message":"Request Entity Too Large"}')
    assert events == []
    status, _headers, _body = post(server.url, "/alertmanager", b"x" * MAX_PAYLOAD_BYTES)
    assert status == 400 and len(events[0]["body"]) == MAX_PAYLOAD_BYTES
