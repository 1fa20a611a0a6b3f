"""A real Alertmanager (Debian's 0.25, ``/usr/bin/prometheus-alertmanager``) routing every alert to the plane's
webhook bridge with bearer auth.

Route: ``group_by [alertname, host]``; ``group_wait`` and ``group_interval`` 1 s (a firing alert is delivered about
a second after Prometheus sends it, its resolution within a second of Prometheus resolving it);
``repeat_interval`` 1 h (``REPEAT_INTERVAL``): a group still firing is re-sent hourly, so the webhook's dedupe is
exercised by group updates, not by a stream of repeats. ``send_resolved: true``. The webhook receiver's
``http_config.authorization`` reads the bearer token from ``credentials_file`` (mode 600 under the plane root),
so it never appears in the config or on a command line. Clustering is off (``--cluster.listen-address=``); its
storage (silences, notification log) is under the plane root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opsctl.local.monitoring import process

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
REPEAT_INTERVAL = "1h"
RECEIVER = "freshtrack-ops"


def config(*, webhook_url: str, credentials_file: Path) -> dict[str, Any]:
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", "host"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": REPEAT_INTERVAL,
        },
        "receivers": [
            {
                "name": RECEIVER,
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(credentials_file)}},
                    }
                ],
            }
        ],
    }


class Alertmanager(process.HttpDaemon):
    def __init__(self, root: Path) -> None:
        super().__init__(root, "alertmanager")
        self.credentials_file = root / "webhook-token"

    def write_config(self, *, webhook_url: str, token: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.credentials_file.touch(mode=0o600, exist_ok=True)
        self.credentials_file.chmod(0o600)  # before the token is in it
        self.credentials_file.write_text(token, encoding="utf-8")
        document = config(webhook_url=webhook_url, credentials_file=self.credentials_file)
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def reserve_port(self) -> int:
        """The port it will listen on (Prometheus' config names it before it starts)."""
        self.port = process.free_port()
        return self.port

    def spawn(self) -> None:
        if not self.port:
            self.reserve_port()
        argv = [
            str(ALERTMANAGER),
            f"--config.file={self.config_file}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        self.run(argv)
