"""The local host's ``/api/health`` endpoint (it stands for ``https://DOMAIN/api/health``), derived from the
docker shim state and the real PostgreSQL.

``version`` is the deployed release (the one the backend container runs, see ``docker_shim.state``) without
its leading ``v``, or the app directory's VERSION when no release is recorded. 200 ``{"status": "ok",
"version": ...}`` when the shim says backend is running, PostgreSQL accepts a connection and the deployed
release is healthy; 503 ``{"status": "error", "reason": ..., "version": ...}`` when backend is not running or
the database is unavailable; 500 when the deployed release is unhealthy (its ``release.json`` said
``"healthy": false``: a broken backend answers 500) or a container runs a broken pulled image (pulled while
``LocalHost.publish_images(healthy=False)`` was in force). Faults (``faults.json`` key ``health``):
``{"fail": true}`` always 503; ``{"fail_versions": ["1.3.0"]}`` 503 while that version is deployed;
``{"fail_while_changed": {"<path under the app dir>": "<sha256>"}}`` 503 while a file's content differs from that
hash (an app that does not work with a changed configuration: ``LocalHost.fail_health_while_changed``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from opsctl.local.docker_shim import images
from opsctl.local.docker_shim.state import ShimState


def _broken(state: ShimState, release: dict[str, Any] | None) -> str:
    """What breaks the app while it runs: an unhealthy release, or containers on broken pulled images ("")."""
    if release is not None and release.get("healthy") is False:
        return f"release {release['version']} is unhealthy"
    broken = [svc for svc in state.services if images.broken(state.service_state(svc).get("image"))]
    return f"the image of {', '.join(broken)} is broken" if broken else ""


def _changed_files(state: ShimState, hashes: dict[str, str]) -> str:
    """The first of ``hashes``' files (relative to the app dir) whose content is not that hash any more ("")."""
    for relative, digest in hashes.items():
        path = state.app_dir() / relative
        current = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
        if current != digest:
            return relative
    return ""


def _fault_reason(state: ShimState, version: str) -> str:
    """Why an injected fault makes the endpoint answer 503 now ("": it does not)."""
    fault = state.faults().get("health")
    if not isinstance(fault, dict):
        return ""
    if fault.get("fail"):
        return "fault injected"
    changed = _changed_files(state, fault.get("fail_while_changed") or {})
    if changed:
        return f"{changed} changed"
    failing = {str(v).removeprefix("v") for v in fault.get("fail_versions", [])}
    return f"version {version} is unhealthy" if version in failing else ""


class HealthServer:
    def __init__(self, state_dir: Path, conninfo: dict[str, Any]) -> None:
        self.state_dir = state_dir
        self.conninfo = conninfo
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("health server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    def check(self) -> tuple[int, dict[str, Any]]:
        state = ShimState(self.state_dir)
        release = state.deployed_release()
        version = str(release["version"]).removeprefix("v") if release else state.app_version()
        faulty = _fault_reason(state, version)
        if faulty:
            return 503, {"status": "error", "reason": faulty, "version": version}
        if state.service_state("backend").get("state") != "running":
            return 503, {"status": "error", "reason": "backend is not running", "version": version}
        try:
            with psycopg.connect(**self.conninfo, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            reason = f"database unavailable: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
            return 503, {"status": "error", "reason": reason, "version": version}
        broken = _broken(state, release)
        if broken:
            return 500, {"status": "error", "reason": f"{broken} (internal server error)", "version": version}
        return 200, {"status": "ok", "version": version}

    def start(self) -> None:
        if self._server is not None:
            return
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/api/health":
                    code, body = 404, {"status": "error", "reason": "not found"}
                else:
                    code, body = health.check()
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ft-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
