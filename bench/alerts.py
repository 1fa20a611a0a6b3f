"""The alert part of ``make bench``: how fast an alert heals, how fast the webhook answers, how much it absorbs.

On a local plane with the real monitoring stack (Prometheus 2.42 scraping every 1 s, rule ``for: 2s``;
Alertmanager 0.25 with ``group_wait: 1s``; Caddy 2.6 in front of the backend) and the webhook behind the plane's
API Gateway stand-in (an HTTP server on 127.0.0.1 that invokes the AlertWebhook function through the plane's Lambda
routing, with its IAM policy):

* **heal**: the backend stopped (``docker compose stop``-equivalent: its process killed) → health 200 through Caddy
  again. Split from the timestamps: Prometheus firing (detection: scrape + ``for``), the remediation execution's start
  (delivery: Alertmanager's ``group_wait`` + the webhook), its end, health 200. "Ours" = heal - ``for`` - ``group_wait``
  (the issue's target: under 30 s).
* **ack latency**: one delivery at a time (one alert each: a third new alerts for an unknown target, a third re-sends
  of one alert, a third notify-only), the time until the 202 is read: p50/p99 (target p99 ≤ 250 ms).
* **throughput**: 4 client threads posting deliveries of 10 alerts (distinct alerts of one host and action, most of
  them suppressed by the rate limit, and re-sends) for a fixed time: alerts/s and any 5xx (target ≥ 100/s, no 5xx).
"""

from __future__ import annotations

import json
import ssl
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from opsctl.local.plane import LocalPlane

FOR_S = 2.0
GROUP_WAIT_S = 1.0
HEAL_TARGET_S = 30.0
ACK_P99_TARGET_MS = 250.0
THROUGHPUT_TARGET = 100.0


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context()) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _alert(name: str, host: str, fingerprint: int, starts_at: str = "2026-11-30T19:00:00Z") -> dict[str, Any]:
    return {
        "status": "firing", "labels": {"alertname": name, "host": host}, "annotations": {}, "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": f"{fingerprint:016x}",
    }  # fmt: skip


def _body(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "bench",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
            "alerts": alerts,
        }
    ).encode()  # fmt: skip


def _when(run: dict[str, Any], key: str) -> float:
    value = run[key]
    return value.timestamp() if isinstance(value, datetime) else float(value)


def heal_once(plane: LocalPlane) -> dict[str, float]:
    health = plane.monitoring.caddy_url("demo")
    before = len(plane.executions("remediation"))
    stopped = time.time()
    plane.host("demo").crash_service("backend")
    firing: float | None = None
    deadline = time.monotonic() + 120
    while _status(health) != 200 or len(plane.executions("remediation")) == before:
        if firing is None and plane.monitoring._matching("ServiceDown", "demo", "prometheus"):
            firing = time.time()
        if time.monotonic() > deadline:
            raise RuntimeError("the backend was not healed within 120 s")
        time.sleep(0.05)
    healed = time.time()
    plane.wait_idle(60)
    run = plane.executions("remediation")[0]
    started, ended = _when(run, "startDate"), _when(run, "stopDate")
    plane.monitoring.wait_alert("ServiceDown", host="demo", resolved=True, source="alertmanager", timeout_s=60)
    plane.wait_idle(60)
    heal = healed - stopped
    return {
        "heal_s": round(heal, 2),
        "detection_s": round((firing or started) - stopped, 2),
        "delivery_s": round(started - (firing or started), 2),
        "remediation_s": round(ended - started, 2),
        "ours_s": round(heal - FOR_S - GROUP_WAIT_S, 2),
    }


def ack_latencies(plane: LocalPlane, count: int) -> list[float]:
    url, headers = plane.webhook("alertmanager")
    kinds: list[Callable[[int], bytes]] = [
        lambda i: _body([_alert("ServiceDown", "nowhere", 10_000 + i)]),  # unknown target: recorded, ignored
        lambda i: _body([_alert("HighCpuUsage", "demo", 1)]),  # re-sends of one alert: deduplicated
        lambda i: _body([_alert("HighCpuUsage", "demo", 20_000 + i)]),  # notify-only: one SNS publish
    ]
    latencies: list[float] = []
    for i in range(count):
        body = kinds[i % len(kinds)](i)
        began = time.perf_counter()
        status = _post(url, headers, body)
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 202:
            raise RuntimeError(f"ack latency: delivery {i} answered {status}")
    return latencies


def throughput(plane: LocalPlane, seconds: float, threads: int = 4, batch: int = 10) -> dict[str, Any]:
    url, headers = plane.webhook("alertmanager")
    statuses: list[int] = []
    counter = iter(range(10**9))
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            with lock:
                first = next(counter) * batch
            # half new alerts of one (host, action) — past max_attempts the guard suppresses them — half re-sends
            alerts = [_alert("DiskSpaceLow", "demo-ssm", 100_000 + first + k) for k in range(batch // 2)]
            alerts += [_alert("DiskSpaceLow", "demo-ssm", 100_000 + k) for k in range(batch - batch // 2)]
            status = _post(url, headers, _body(alerts))
            with lock:
                statuses.append(status)

    began = time.monotonic()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    plane.wait_idle(120)
    return {
        "threads": threads,
        "alerts_per_delivery": batch,
        "seconds": round(elapsed, 2),
        "deliveries": len(statuses),
        "alerts": len(statuses) * batch,
        "alerts_per_s": round(len(statuses) * batch / elapsed, 1),
        "status_5xx": sum(1 for s in statuses if s >= 500),
        "status_other": sorted({s for s in statuses if s != 202}),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run(log: Callable[[str], None], *, heal_rounds: int = 3, acks: int = 300, seconds: float = 10.0) -> dict[str, Any]:
    log("alerts: a local plane with the real Prometheus, Alertmanager and Caddy")
    with LocalPlane(readings=2_000, use_sshd=True, monitoring=True, log_level="ERROR") as plane:
        log(f"alerts: monitoring stack up in {plane.monitoring.start_seconds:.2f} s")
        heals = []
        for round_ in range(heal_rounds):
            heals.append(heal_once(plane))
            log(f"alerts: heal round {round_ + 1}: {heals[-1]}")
        _ = ack_latencies(plane, 30)  # warm-up: imports, clients, the dedupe record of the re-sent alert
        latencies = ack_latencies(plane, acks)
        log(f"alerts: ack p50 {statistics.median(latencies):.1f} ms, p99 {_percentile(latencies, 0.99)} ms")
        load = throughput(plane, seconds)
        log(f"alerts: {load['alerts_per_s']} alerts/s, {load['status_5xx']} 5xx")
        started = len(plane.executions("remediation"))
        monitoring_start_s = plane.monitoring.start_seconds
    return {
        "monitoring_start_s": round(monitoring_start_s, 2),
        "prometheus_for_s": FOR_S,
        "alertmanager_group_wait_s": GROUP_WAIT_S,
        "heal": heals,
        "heal_median_s": statistics.median(h["heal_s"] for h in heals),
        "ours_median_s": statistics.median(h["ours_s"] for h in heals),
        "ack_ms": {
            "count": len(latencies),
            "p50": round(statistics.median(latencies), 1),
            "p99": _percentile(latencies, 0.99),
            "max": round(max(latencies), 1),
        },
        "throughput": load,
        "remediations_started": started,
    }


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"what": "heal: ours beyond for + group_wait (median)", "value": f"{data['ours_median_s']} s",
         "target": f"< {HEAL_TARGET_S:.0f} s", "ok": data["ours_median_s"] < HEAL_TARGET_S},
        {"what": "webhook ack p99", "value": f"{data['ack_ms']['p99']} ms", "target": f"<= {ACK_P99_TARGET_MS:.0f} ms",
         "ok": data["ack_ms"]["p99"] <= ACK_P99_TARGET_MS},
        {"what": "alerts absorbed per second, no 5xx", "value": f"{data['throughput']['alerts_per_s']}/s, "
         f"{data['throughput']['status_5xx']} 5xx", "target": f">= {THROUGHPUT_TARGET:.0f}/s, 0 5xx",
         "ok": data["throughput"]["alerts_per_s"] >= THROUGHPUT_TARGET and data["throughput"]["status_5xx"] == 0},
    ]  # fmt: skip


BEGIN = "<!-- bench:alerts:begin (written by `make bench`; edits inside are overwritten) -->"
END = "<!-- bench:alerts:end -->"


def section(data: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {t['what']} | {t['value']} | {t['target']} | {'PASS' if t['ok'] else '**MISS**'} |" for t in data["targets"]
    )
    heal_rows = "\n".join(
        f"| {i + 1} | {h['heal_s']} | {h['detection_s']} | {h['delivery_s']} | {h['remediation_s']} | {h['ours_s']} |"
        for i, h in enumerate(data["heal"])
    )
    load = data["throughput"]
    return "\n".join(
        [
            BEGIN,
            "## Alerts that heal (webhook + remediation)",
            "",
            f"Measured {data['date']} by `python -m bench --only alerts` (bench/alerts.py; results "
            "bench/results/alerts.json) on the local plane with the real Prometheus 2.42 (scrape and evaluation 1 s, "
            f"`for: {data['prometheus_for_s']:.0f}s`), Alertmanager 0.25 (`group_wait: "
            f"{data['alertmanager_group_wait_s']:.0f}s`) and Caddy 2.6; the webhook behind the plane's API Gateway "
            "stand-in (HTTP on 127.0.0.1, the function invoked through the plane's Lambda routing and IAM).",
            "",
            "| target | measured | target | verdict |",
            "| --- | --- | --- | --- |",
            rows,
            "",
            "Backend stopped → health 200 through Caddy again (s): detection = until Prometheus fires (scrape + "
            "`for`), delivery = until the remediation execution starts (`group_wait` + webhook), remediation = the "
            "execution, ours = heal - `for` - `group_wait`. Detection is read by polling Prometheus' API every 50 ms "
            "while Alertmanager hears of the alert at once, so a delivery can read a little below zero.",
            "",
            "| round | heal | detection | delivery | remediation | ours |",
            "| --- | --- | --- | --- | --- | --- |",
            heal_rows,
            "",
            f"Webhook acknowledgement, {data['ack_ms']['count']} sequential single-alert deliveries (unknown target, "
            f"re-send, notify-only): p50 {data['ack_ms']['p50']} ms, p99 {data['ack_ms']['p99']} ms, max "
            f"{data['ack_ms']['max']} ms.",
            "",
            f"Throughput: {load['threads']} clients posting deliveries of {load['alerts_per_delivery']} alerts for "
            f"{load['seconds']} s: {load['alerts']} alerts, {load['alerts_per_s']} alerts/s, {load['status_5xx']} "
            f"5xx; {data['remediations_started']} remediation executions started in the whole run (the rate limit "
            "holds the rest).",
            END,
        ]
    )
