"""The commands each service action runs on the host: one table for the plan (the notification's "would run") and
host_scripts/service.sh, which prints the same strings on its ``ran=`` lines as it runs them (the integration tests
compare the two). They are written as the operations manual writes them ("Service Management", "Emergency
Procedures", "Fail2ban Management"); ``docker`` stands for the target's ``docker_bin``."""

from __future__ import annotations


def logs_command(service: str | None, tail: int | None, since: str | None) -> str:
    """``docker compose logs [--since S] [--tail=N] [SERVICE]`` (the manual's "Last N lines" / "Since timestamp")."""
    words = ["docker compose logs"]
    if since:
        words.append(f"--since {since}")
    if tail:
        words.append(f"--tail={tail}")
    if service:
        words.append(service)
    return " ".join(words)


def planned_commands(
    action: str,
    service: str | None,
    *,
    tail: int | None = None,
    since: str | None = None,
    ip: str | None = None,
    jail: str | None = None,
) -> list[str]:
    """What ``action`` runs, in order (the validated plan's values: ``since`` in docker's form)."""
    one = f" {service}" if service else ""
    table: dict[str, list[str]] = {
        "start": [f"docker compose up -d{one}"],
        # the manual's "Stop all services (preserves data)" is `down`; one service is `stop`
        "stop": [f"docker compose stop{one}" if service else "docker compose down"],
        "restart": [f"docker compose restart{one}"],
        "status": [f"docker compose ps{one}"],
        "logs": [logs_command(service, tail, since)],
        "emergency-stop": ["docker compose down --timeout 5"],
        "emergency-restart": ["docker compose down --timeout 10", "docker compose up -d"],
        "force-rebuild": ["docker compose down", "docker compose build --no-cache", "docker compose up -d"],
        "unban": [f"fail2ban-client set {jail} unbanip {ip}"],
    }
    return table[action]
