"""The backend process of a monitored local host: what Caddy proxies to and Prometheus scrapes.

    python -m opsctl.local.monitoring.backend --state STATE_DIR --port PORT --conninfo JSON --plane-pid PID

``GET /api/health`` gives the verdict of ``HealthServer.check`` (the same code as the host's plain health
endpoint: shim state, release, faults and a real PostgreSQL connection). ``GET /metrics`` is Prometheus' text
format (0.0.4): per service ``freshtrack_container_memory_percent`` and ``freshtrack_container_cpu_percent``
(what ``docker stats`` on the host says, i.e. the shim's numbers; a ``faults.json`` entry
``{"stats": {"backend": {"mem_percent": 96.0}}}`` overrides a service's memory), ``freshtrack_service_running``
(1/0 per compose service, from the shim state) and ``freshtrack_health_status_code`` (the health verdict's code).

The docker shim starts it in its own session when the backend container starts and SIGTERMs it when the container
stops (``backend_control``). It also exits by itself once the plane process (``--plane-pid``) is gone, so it
cannot outlive a plane that was killed before it could stop it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opsctl.local.docker_shim.engine import Engine
from opsctl.local.docker_shim.state import ShimState
from opsctl.local.health import HealthServer

PLANE_POLL_S = 1.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _percent(text: object) -> float:
    try:
        return float(str(text).strip().rstrip("%"))
    except ValueError:
        return 0.0


def container_stats(state: ShimState) -> dict[str, dict[str, float]]:
    """service -> {"mem_percent", "cpu_percent"} of the running containers, as ``docker stats`` shows them, with
    the ``stats`` faults applied."""
    out = io.StringIO()
    Engine(state, out, io.StringIO()).stats(["--no-stream", "--format", "json"])
    by_container = {state.container(s): s for s in state.services}
    stats: dict[str, dict[str, float]] = {}
    for line in out.getvalue().splitlines():
        row = json.loads(line)
        service = by_container.get(str(row.get("Name")))
        if service is not None:
            stats[service] = {"mem_percent": _percent(row.get("MemPerc")), "cpu_percent": _percent(row.get("CPUPerc"))}
    faults = state.faults().get("stats")
    if isinstance(faults, dict):
        for service, fault in faults.items():
            if service in stats and isinstance(fault, dict) and "mem_percent" in fault:
                stats[service]["mem_percent"] = float(fault["mem_percent"])
    return stats


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(state: ShimState, health_code: int) -> str:
    stats = container_stats(state)
    lines = [
        "# HELP freshtrack_container_memory_percent Memory used by the service's container, percent of its limit.",
        "# TYPE freshtrack_container_memory_percent gauge",
        *(
            f'freshtrack_container_memory_percent{{service="{_label(s)}"}} {v["mem_percent"]:g}'
            for s, v in stats.items()
        ),
        "# HELP freshtrack_container_cpu_percent CPU used by the service's container, percent of one CPU.",
        "# TYPE freshtrack_container_cpu_percent gauge",
        *(f'freshtrack_container_cpu_percent{{service="{_label(s)}"}} {v["cpu_percent"]:g}' for s, v in stats.items()),
        "# HELP freshtrack_service_running Whether the compose service's container runs (1) or not (0).",
        "# TYPE freshtrack_service_running gauge",
    ]
    services = state.read()["services"]
    for service in state.services:
        up = 1 if services.get(service, {}).get("state") == "running" else 0
        lines.append(f'freshtrack_service_running{{service="{_label(service)}"}} {up}')
    lines += [
        "# HELP freshtrack_health_status_code The HTTP status /api/health answers now.",
        "# TYPE freshtrack_health_status_code gauge",
        f"freshtrack_health_status_code {health_code}",
    ]
    return "\n".join(lines) + "\n"


def make_server(state_dir: Path, port: int, conninfo: dict[str, Any]) -> ThreadingHTTPServer:
    health = HealthServer(state_dir, conninfo)  # only its check: this process serves the requests itself

    class Handler(BaseHTTPRequestHandler):
        server_version = "freshtrack-backend"

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/api/health":
                code, body = health.check()
                self._send(code, json.dumps(body).encode(), "application/json")
            elif path == "/metrics":
                code, _body = health.check()
                self._send(200, metrics_text(ShimState(state_dir), code).encode(), CONTENT_TYPE)
            else:
                self._send(404, b'{"status": "error", "reason": "not found"}', "application/json")

        def _send(self, code: int, data: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def _watch_plane(pid: int, server: ThreadingHTTPServer) -> None:
    while True:
        time.sleep(PLANE_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            server.shutdown()
            return
        except PermissionError:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opsctl.local.monitoring.backend")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--conninfo", required=True, help="psycopg.connect keyword arguments, JSON")
    parser.add_argument("--plane-pid", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(args.state, args.port, json.loads(args.conninfo))

    def terminate(_signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever to return: from another thread, not this handler's
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, terminate)
    if args.plane_pid:
        threading.Thread(target=_watch_plane, args=(args.plane_pid, server), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
