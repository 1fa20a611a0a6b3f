"""Checks on the host after a load: row counts against the manifest, services, HTTP health."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from freshtrack_ops.backup.host_env import host_env
from freshtrack_ops.backup.preflight import tail
from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, VerificationFailed
from freshtrack_ops.models import BackupRef, CountsResult, HealthResult, ServicesResult
from freshtrack_ops.ports import BackupStore, HostRunner
from freshtrack_ops.restore.verify import load_manifest

HEALTH_TIMEOUT_S = 10.0


def database_counts(target: Target, runner: HostRunner, database: str) -> dict[str, int]:
    result = runner.run("row_counts.sh", host_env(target) | {"TARGET_DB": database}, timeout_s=600)
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: counting rows in {database} failed: {tail(result.stderr)}")
    raw = json.loads(result.stdout.strip() or "{}")
    return {str(table): int(count) for table, count in raw.items()}


def compare_counts(
    backup: BackupRef, database: str, target: Target, runner: HostRunner, store: BackupStore
) -> CountsResult:
    expected = load_manifest(backup, store).row_counts
    actual = database_counts(target, runner, database)
    differences = [
        f"{table}: manifest {expected.get(table, 'absent')}, database {actual.get(table, 'absent')}"
        for table in sorted(set(expected) | set(actual))
        if expected.get(table) != actual.get(table)
    ]
    if differences:
        shown = "; ".join(differences[:10])
        raise VerificationFailed(f"{database} does not match backup {backup.backup_id}: {shown}")
    return CountsResult(database=database, tables=len(actual), rows=sum(actual.values()), row_counts=actual)


def services(target: Target, runner: HostRunner, action: str, names: tuple[str, ...]) -> ServicesResult:
    selected = names or target.app_services
    env = host_env(target) | {"ACTION": action, "SERVICES": " ".join(selected)}
    result = runner.run("services.sh", env, timeout_s=300)
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: compose {action} {' '.join(selected)} failed: {tail(result.stderr)}")
    return ServicesResult(states=parse_compose_ps(result.stdout))


def parse_compose_ps(output: str) -> dict[str, str]:
    """`docker compose ps --format json`: one object per line (v2.21+) or one JSON array (older v2)."""
    text = output.strip()
    if not text:
        return {}
    rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return {str(row.get("Service", row.get("Name"))): str(row.get("State", "unknown")) for row in rows}


def check_health(target: Target, runner: HostRunner) -> HealthResult:
    states = services(target, runner, "status", ()).states
    down = [name for name in target.compose_services if states.get(name) != "running"]
    url = target.effective_health_url
    status = _http_status(url)
    if down or status != 200:
        raise VerificationFailed(
            f"{target.id}: unhealthy: {url} answered {status or 'nothing'}; "
            f"services not running: {', '.join(down) or 'none'}"
        )
    return HealthResult(url=url, http_status=status, services=states)


def _http_status(url: str) -> int:
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "freshtrack-ops-healthcheck"})  # noqa: S310 - the configured health URL (http/https by model)
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT_S) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0
