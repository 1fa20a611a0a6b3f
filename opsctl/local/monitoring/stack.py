"""The monitoring stack of the local plane: per monitored host a backend process and a Caddy, one Prometheus and one
Alertmanager for all of them, every process on a free port of 127.0.0.1, its files under ``<plane root>/monitoring``.

Start-up spawns every process first and only then waits for their readiness (backend port, Caddy's TLS answer,
``/-/ready`` of Prometheus and Alertmanager), so the stack costs about as long as its slowest member
(``start_seconds``). ``stop`` SIGTERMs all of them (by pid file; the backend processes through
``backend_control``, as the hosts' docker shims do). Should the plane's process die without stopping them, the
backends exit by themselves (they watch its pid) and Caddy, Prometheus and Alertmanager get SIGTERM from the kernel
(``process.spawn(die_with_parent=True)``: the thread that started the stack must live as long as the plane).

TLS with verification on: the control plane fetches a monitored target's health URL,
``https://127.0.0.1:<caddy port>/api/health``, with Python's default SSL context, which reads ``SSL_CERT_FILE``:
the plane points it (for its lifetime, restored at stop) at ``ca_bundle``, the system's CA bundle plus every
Caddy's internal root. Curl on a host honours ``CURL_CA_BUNDLE`` (``--cacert``) with the same file. Nothing
disables verification anywhere.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsctl.local.host import LocalHost
from opsctl.local.monitoring import backend_control, process
from opsctl.local.monitoring.alertmanager import Alertmanager
from opsctl.local.monitoring.caddy import Caddy
from opsctl.local.monitoring.prometheus import Prometheus

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class MonitoredHost:
    host: LocalHost
    target_id: str
    domain: str
    backend_port: int
    caddy: Caddy


class MonitoringStack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.prometheus = Prometheus(root / "prometheus")
        self.alertmanager = Alertmanager(root / "alertmanager")
        self.hosts: dict[str, MonitoredHost] = {}
        self.ca_bundle = root / "ca-bundle.pem"
        self.start_seconds = 0.0

    # -- lifecycle --------------------------------------------------------------------------------
    def start(
        self, hosts: Mapping[str, LocalHost], *, domains: Mapping[str, str], webhook_url: str, token: str
    ) -> None:
        """Monitor ``hosts`` (target id -> host; ``domains``: target id -> its domain) and deliver alerts to
        ``webhook_url`` with bearer ``token``."""
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        alertmanager_port = self.alertmanager.reserve_port()
        for target_id, host in hosts.items():
            port = process.free_port()
            caddy = Caddy(self.root / "caddy" / target_id, domain=domains[target_id], upstream_port=port)
            self.hosts[target_id] = MonitoredHost(host, target_id, domains[target_id], port, caddy)
        self.alertmanager.write_config(webhook_url=webhook_url, token=token)
        self.prometheus.write_config(
            backends={t: m.backend_port for t, m in self.hosts.items()}, alertmanager_port=alertmanager_port
        )
        self.prometheus.spawn()  # the slowest to become ready: first
        self.alertmanager.spawn()
        for monitored in self.hosts.values():
            monitored.caddy.spawn()
        for monitored in self.hosts.values():
            self._start_backend(monitored)
        for monitored in self.hosts.values():
            monitored.caddy.wait_ready()
        self._write_ca_bundle()
        self.alertmanager.wait_ready()
        self.prometheus.wait_ready()
        self.start_seconds = time.monotonic() - began

    def _start_backend(self, monitored: MonitoredHost) -> None:
        """Put the host's shim in monitoring mode; the process starts now when the backend container runs."""
        host = monitored.host
        argv = [
            sys.executable,
            "-m",
            "opsctl.local.monitoring.backend",
            "--state",
            str(host.state_dir),
            "--port",
            str(monitored.backend_port),
            "--conninfo",
            json.dumps(host.pg_conninfo()),
            "--plane-pid",
            str(os.getpid()),
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "functions")]),
        }
        backend_control.configure(host.state_dir, argv=argv, port=monitored.backend_port, env=env, cwd=PROJECT_ROOT)
        backend_control.follow(host.state_dir, service_running=host.services().get("backend") == "running")

    def _write_ca_bundle(self) -> None:
        system = ssl.get_default_verify_paths().cafile
        parts = [Path(system).read_text(encoding="utf-8")] if system and Path(system).is_file() else []
        parts += [m.caddy.root_ca.read_text(encoding="utf-8") for m in self.hosts.values()]
        self.ca_bundle.write_text("\n".join(parts), encoding="utf-8")

    def stop(self) -> None:
        for monitored in self.hosts.values():
            monitored.caddy.stop()
            backend_control.stop(monitored.host.state_dir)
        self.alertmanager.stop()
        self.prometheus.stop()

    # -- what tests and the demo use --------------------------------------------------------------------
    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    @property
    def alertmanager_url(self) -> str:
        return self.alertmanager.url

    def caddy_url(self, host: str) -> str:
        """``https://127.0.0.1:<port>/api/health`` of the monitored target ``host`` (its health URL)."""
        return self._monitored(host).caddy.health_url

    def caddy_port(self, host: str) -> int:
        return self._monitored(host).caddy.port

    def backend_pid(self, host: str) -> int | None:
        """The backend process of ``host`` when it runs."""
        return backend_control.running(self._monitored(host).host.state_dir)

    def _monitored(self, host: str) -> MonitoredHost:
        if host not in self.hosts:
            raise KeyError(f"host: {host!r} is not monitored (monitored: {', '.join(sorted(self.hosts)) or 'none'})")
        return self.hosts[host]

    def active_alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's active alerts (``/api/v2/alerts``): labels, annotations, startsAt, fingerprint, status."""
        alerts: list[dict[str, Any]] = self._get_json(f"{self.alertmanager_url}/api/v2/alerts?active=true")
        return alerts

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        """Prometheus' pending and firing alerts (``/api/v1/alerts``): labels, state, activeAt, value."""
        alerts: list[dict[str, Any]] = self._get_json(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"]
        return alerts

    def wait_alert(
        self,
        name: str,
        *,
        host: str | None = None,
        resolved: bool = False,
        source: Literal["prometheus", "alertmanager"] = "prometheus",
        timeout_s: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Until alert ``name`` (of ``host`` when given) fires (Prometheus: state ``firing``; Alertmanager: it is
        active there), or with ``resolved`` until it no longer does; the matching alerts then (none once
        resolved). TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self._matching(name, host, source)
            if bool(found) != resolved:
                return found
            if time.monotonic() > deadline:
                state = "resolved" if resolved else "firing"
                raise TimeoutError(f"{name} (host {host or 'any'}) not {state} in {source} after {timeout_s} s")
            time.sleep(0.1)

    def _matching(self, name: str, host: str | None, source: str) -> list[dict[str, Any]]:
        if source == "prometheus":
            alerts = [a for a in self.prometheus_alerts() if a.get("state") == "firing"]
        else:
            alerts = self.active_alerts()
        return [
            a
            for a in alerts
            if a["labels"].get("alertname") == name and (host is None or a["labels"].get("host") == host)
        ]

    @staticmethod
    def _get_json(url: str) -> Any:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the stack's own 127.0.0.1 URLs
            return json.loads(response.read())
