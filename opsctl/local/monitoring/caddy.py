"""A real Caddy (Debian's 2.6, ``/usr/bin/caddy``) in front of one monitored host's backend process.

The Caddyfile serves the target's domain and 127.0.0.1 on one free port of 127.0.0.1 with ``tls internal``:
Caddy's own CA (root and intermediate created at first start, leaf certificates valid 12 hours) kept under the
plane's root through ``XDG_DATA_HOME``/``XDG_CONFIG_HOME``; ``skip_install_trust`` keeps it out of the system
trust store. ``reverse_proxy`` to the backend process, so a stopped backend is Caddy's real 502. No admin
endpoint (``admin off``: the process is stopped by signal), no HTTP->HTTPS redirect listener on :80.

Why two names: a client that connects to ``127.0.0.1`` sends no SNI and checks the certificate against the IP
(Caddy picks the certificate of the connection's local address then), which is how the control plane fetches the
health URL here (nothing resolves ``*.freshtrack.local``); ``openssl s_client -servername <domain>`` (the
certificate check) gets the domain's certificate.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

from opsctl.local.monitoring import process

CADDY = Path("/usr/bin/caddy")


def caddyfile(*, domain: str, port: int, http_port: int, upstream_port: int) -> str:
    return f"""{{
\tadmin off
\tskip_install_trust
\tauto_https disable_redirects
\thttp_port {http_port}
\thttps_port {port}
}}

https://{domain}:{port}, https://127.0.0.1:{port} {{
\tbind 127.0.0.1
\ttls internal
\treverse_proxy 127.0.0.1:{upstream_port}
}}
"""


class Caddy:
    def __init__(self, root: Path, *, domain: str, upstream_port: int) -> None:
        self.root = root
        self.domain = domain
        self.upstream_port = upstream_port
        self.port = 0
        self.config = root / "Caddyfile"
        self.pid_file = root / "caddy.pid"
        self.log_file = root / "caddy.log"
        self._pid = 0

    @property
    def root_ca(self) -> Path:
        """The root certificate of this Caddy's internal CA (exists once it started)."""
        return self.root / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def health_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api/health"

    def spawn(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = process.free_port()
        self.config.write_text(
            caddyfile(
                domain=self.domain, port=self.port, http_port=process.free_port(), upstream_port=self.upstream_port
            ),
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
        }
        argv = [str(CADDY), "run", "--config", str(self.config), "--adapter", "caddyfile"]
        self._pid = process.spawn(
            argv, pid_file=self.pid_file, log_file=self.log_file, env=env, cwd=self.root, die_with_parent=True
        )

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Until a TLS request verified against this Caddy's root gets an HTTP answer (any status: the backend
        may be down)."""
        process.wait_port(
            self.port, pid=self._pid, marker=str(self.config), log_file=self.log_file, timeout_s=timeout_s
        )
        deadline = time.monotonic() + timeout_s
        while not self.root_ca.exists():  # the PKI app writes it at start, the listener may be first
            if time.monotonic() > deadline or not process.alive(self._pid, str(self.config)):
                raise process.DaemonError(f"caddy: no internal CA root: {process.log_tail(self.log_file)}")
            time.sleep(0.02)
        context = ssl.create_default_context(cafile=str(self.root_ca))
        process.wait_http(
            self.health_url,
            pid=self._pid,
            marker=str(self.config),
            log_file=self.log_file,
            timeout_s=timeout_s,
            context=context,
            any_status=True,
        )

    def stop(self) -> None:
        process.stop(self.pid_file, str(self.config))
