"""Checks on the host after a load: row counts against the manifest, services, HTTP health."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from freshtrack_ops.config import Target
from freshtrack_ops.errors import HostCommandFailed, VerificationFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.host_env import host_env
from freshtrack_ops.models import BackupRef, CountsResult, HealthResult, ServicesResult
from freshtrack_ops.ports import BackupStore, CommandResult, HostRunner
from freshtrack_ops.restore.verify import load_manifest

HEALTH_TIMEOUT_S = 10.0


def counts_command(target: Target, database: str) -> HostCommand:
    return HostCommand("row_counts.sh", host_env(target) | {"TARGET_DB": database}, 600)


def read_counts(target: Target, database: str, result: CommandResult) -> dict[str, int]:
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: counting rows in {database} failed: {tail(result.stderr)}")
    raw = json.loads(result.stdout.strip() or "{}")
    return {str(table): int(count) for table, count in raw.items()}


def database_counts(target: Target, runner: HostRunner, database: str) -> dict[str, int]:
    return read_counts(target, database, counts_command(target, database).run(runner))


def compare_counts(
    backup: BackupRef, database: str, target: Target, runner: HostRunner, store: BackupStore
) -> CountsResult:
    return compare_with_manifest(backup, database, database_counts(target, runner, database), store)


def compare_with_manifest(backup: BackupRef, database: str, actual: dict[str, int], store: BackupStore) -> CountsResult:
    expected = load_manifest(backup, store).row_counts
    differences = [
        f"{table}: manifest {expected.get(table, 'absent')}, database {actual.get(table, 'absent')}"
        for table in sorted(set(expected) | set(actual))
        if expected.get(table) != actual.get(table)
    ]
    if differences:
        shown = "; ".join(differences[:10])
        raise VerificationFailed(f"{database} does not match backup {backup.backup_id}: {shown}")
    return CountsResult(database=database, tables=len(actual), rows=sum(actual.values()), row_counts=actual)


def services_command(target: Target, action: str, names: tuple[str, ...]) -> HostCommand:
    selected = names or target.app_services
    return HostCommand("services.sh", host_env(target) | {"ACTION": action, "SERVICES": " ".join(selected)}, 300)


def read_services(target: Target, command: HostCommand, result: CommandResult) -> ServicesResult:
    if result.exit_code != 0:
        action, selected = command.env["ACTION"], command.env["SERVICES"]
        raise HostCommandFailed(f"{target.id}: compose {action} {selected} failed: {tail(result.stderr)}")
    return ServicesResult(states=parse_compose_ps(result.stdout))


def services(target: Target, runner: HostRunner, action: str, names: tuple[str, ...]) -> ServicesResult:
    command = services_command(target, action, names)
    return read_services(target, command, command.run(runner))


def parse_compose_ps(output: str) -> dict[str, str]:
    """`docker compose ps --format json`: one object per line (v2.21+) or one JSON array (older v2)."""
    text = output.strip()
    if not text:
        return {}
    rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return {str(row.get("Service", row.get("Name"))): str(row.get("State", "unknown")) for row in rows}


def health_command(target: Target) -> HostCommand:
    """``compose ps`` (the control plane then fetches the URL), or ``health.sh`` when the host fetches it."""
    if target.health_check_from == "host":
        env = {"APP_DIR": target.app_dir, "DOCKER_BIN": target.docker_bin, "HEALTH_URL": target.effective_health_url}
        return HostCommand("health.sh", env, 60)
    return services_command(target, "status", ())


def check_health(target: Target, runner: HostRunner) -> HealthResult:
    command = health_command(target)
    return read_health_result(target, command, command.run(runner))


def read_health_result(target: Target, command: HostCommand, result: CommandResult) -> HealthResult:
    if command.script != "health.sh":
        return read_health(target, read_services(target, command, result).states)
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: the health check on the host failed: {tail(result.stderr)}")
    lines = result.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("HTTP "):
        raise HostCommandFailed(f"{target.id}: the health check printed no HTTP status: {tail(result.stdout)}")
    status_text = lines[-1].removeprefix("HTTP ").strip()
    status = int(status_text) if status_text.isdigit() else 0
    return read_health(target, parse_compose_ps("\n".join(lines[:-1])), http_status=status)


def read_health(target: Target, states: dict[str, str], *, http_status: int | None = None) -> HealthResult:
    """Healthy: every compose service running and the health URL answering 200 (asked from the control plane
    unless the host already asked: ``http_status``)."""
    down = [name for name in target.compose_services if states.get(name) != "running"]
    url = target.effective_health_url
    status = _http_status(url) if http_status is None else http_status
    if down or status != 200:
        asked = "from the host" if http_status is not None else "from the control plane"
        raise VerificationFailed(
            f"{target.id}: unhealthy: {url} answered {status or 'nothing'} ({asked}); "
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
