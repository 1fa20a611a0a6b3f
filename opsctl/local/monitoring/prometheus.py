"""A real Prometheus (Debian's 2.42, ``/usr/bin/prometheus``) scraping every monitored host's backend, with the
manual's default alert rules.

Scrape and evaluation every second (``scrape_timeout`` 900 ms: it may not exceed the interval). One job,
``backend``, one static target per host labelled ``host=<target id>`` and ``service=backend``, so ``up`` of a
stopped backend is 0 with both labels. ``honor_labels: true``: the backend's own ``service`` label (which
container a memory gauge is about) wins over the target's, instead of being renamed ``exported_service``.

Rules (``RULES``; every alert carries ``host`` from its series):

- ``ServiceDown``: the backend does not answer its scrape (``up{job="backend"} == 0``, label
  ``service=backend``), or a compose service's container is not running (``freshtrack_service_running == 0``,
  its ``service``); ``for: 2s``.
- ``HighMemoryUsage``: a container above 90 % of its memory limit (``docker stats``; the shim's ``stats``
  fault drives it); ``for: 2s``.

The manual's ``HighCpuUsage``, ``DiskSpaceLow`` and ``SslCertificateExpiring`` need exporters (node, blackbox)
that the local host does not run; their remediation is tested through the webhook with hand-made payloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from opsctl.local.monitoring import process

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
JOB = "backend"
FOR = "2s"

RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "freshtrack-defaults",
            "interval": "1s",
            "rules": [
                {
                    "alert": "ServiceDown",
                    "expr": f'up{{job="{JOB}"}} == 0',
                    "for": FOR,
                    "labels": {"severity": "critical", "service": "backend"},
                    "annotations": {"summary": "{{ $labels.host }}: the backend does not answer"},
                },
                {
                    "alert": "ServiceDown",
                    "expr": "freshtrack_service_running == 0",
                    "for": FOR,
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "{{ $labels.host }}: {{ $labels.service }} is not running"},
                },
                {
                    "alert": "HighMemoryUsage",
                    "expr": "freshtrack_container_memory_percent > 90",
                    "for": FOR,
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.host }}: {{ $labels.service }} uses {{ $value }}% of its memory limit"
                    },
                },
            ],
        }
    ]
}


def config(*, backends: Mapping[str, int], alertmanager_port: int, rules_file: Path) -> dict[str, Any]:
    """``backends``: target id -> its backend process's port."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(rules_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"host": host, "service": "backend"}}
                    for host, port in sorted(backends.items())
                ],
            }
        ],
    }


class Prometheus(process.HttpDaemon):
    def __init__(self, root: Path) -> None:
        super().__init__(root, "prometheus")
        self.rules_file = root / "rules.yml"

    def write_config(self, *, backends: Mapping[str, int], alertmanager_port: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.rules_file.write_text(yaml.safe_dump(RULES, sort_keys=False), encoding="utf-8")
        document = config(backends=backends, alertmanager_port=alertmanager_port, rules_file=self.rules_file)
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def spawn(self) -> None:
        self.port = process.free_port()
        argv = [
            str(PROMETHEUS),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # resolved alerts reach Alertmanager at the next evaluation; firing ones are re-sent this often
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ]
        self.run(argv)
