"""The health check after a restore: asked from the control plane, or by the host itself (health.sh)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from freshtrack_ops.config import Target, parse_target
from freshtrack_ops.errors import HostCommandFailed, VerificationFailed
from freshtrack_ops.host_scripts import script_env
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.restore.checks import health_command, read_health_result

SERVICES = ("backend", "worker", "postgres", "redis", "caddy")
URL = "http://127.0.0.1:8080/api/health"


def _target(**changes: object) -> Target:
    fields: dict[str, object] = {
        "id": "demo-ssm",
        "transport": "ssm",
        "instance_id": "mi-0123456789abcdef0",
        "domain": "demo.test",
        "health_url": URL,
        "health_check_from": "host",
    }
    return parse_target(fields | changes)


def _ps(down: str = "") -> str:
    return "\n".join(
        json.dumps({"Service": name, "State": "exited" if name == down else "running"}) for name in SERVICES
    )


def test_the_host_asks_the_url_through_health_sh_with_checked_parameters() -> None:
    command = health_command(_target())
    assert command.script == "health.sh"
    assert script_env("health.sh", command.env) == {
        "APP_DIR": "/opt/freshtrack-pro",
        "DOCKER_BIN": "docker",
        "HEALTH_URL": URL,
    }


def test_by_default_the_control_plane_asks_and_the_host_only_lists_services() -> None:
    assert health_command(_target(health_check_from="control-plane")).script == "services.sh"


def test_a_healthy_host_report_is_read_without_asking_the_url_again() -> None:
    target = _target()
    result = read_health_result(target, health_command(target), CommandResult(0, _ps() + "\nHTTP 200\n", ""))
    assert result.http_status == 200
    assert result.services["backend"] == "running"


@pytest.mark.parametrize(
    ("stdout", "named"),
    [
        (_ps() + "\nHTTP 503\n", "answered 503 (from the host)"),
        (_ps() + "\nHTTP 000\n", "answered nothing (from the host)"),
        (_ps(down="backend") + "\nHTTP 200\n", "services not running: backend"),
    ],
)
def test_an_unhealthy_host_report_fails_naming_why(stdout: str, named: str) -> None:
    target = _target()
    with pytest.raises(VerificationFailed, match=named.replace("(", r"\(").replace(")", r"\)")):
        read_health_result(target, health_command(target), CommandResult(0, stdout, ""))


def test_a_report_without_a_status_line_is_a_failed_command() -> None:
    target = _target()
    with pytest.raises(HostCommandFailed, match="no HTTP status"):
        read_health_result(target, health_command(target), CommandResult(0, _ps(), ""))


def test_a_url_the_host_cannot_be_given_is_refused_at_configuration() -> None:
    with pytest.raises(ValidationError, match="health_url"):
        _target(health_url="https://demo.test/api/health?token=x")
