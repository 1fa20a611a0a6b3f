from __future__ import annotations

from pathlib import Path

import pytest

from freshtrack_ops.config import DeploymentConfig, SshTarget, load_deployment_config, parse_target
from freshtrack_ops.errors import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/ssh-key-AbCdEf"


def _ssh_target(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "prod",
        "transport": "ssh",
        "address": "freshtrack.example.com",
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
        "domain": "freshtrack.example.com",
    }
    return base | changes


def test_defaults_follow_the_manual() -> None:
    target = parse_target(_ssh_target())
    assert target.app_dir == "/opt/freshtrack-pro"
    assert target.database == target.db_role == "frostguard"
    assert target.compose_services == ("backend", "worker", "postgres", "redis", "caddy")
    assert target.backup.schedule == "cron(0 2 * * ? *)"
    assert target.effective_health_url == "https://freshtrack.example.com/api/health"
    assert DeploymentConfig(targets=(target,)).retention_days == 30


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"database": "frostguard; rm -rf /"}, "database"),
        ({"app_dir": "/opt/../etc"}, "app_dir"),
        ({"app_dir": "relative/path"}, "app_dir"),
        ({"host_public_key": None}, "host_public_key"),
        ({"id": "Prod_1"}, "id"),
        ({"surprise": True}, "surprise"),
        ({"postgres_service": "db"}, "postgres_service"),
    ],
)
def test_bad_target_fields_are_named(tmp_path: Path, changes: dict[str, object], needle: str) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"targets": [_ssh_target(**changes)]}))
    with pytest.raises(ConfigError) as caught:
        load_deployment_config(path)
    assert needle in str(caught.value)


def test_duplicate_targets_and_local_transport_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate target id"):
        DeploymentConfig.model_validate({"targets": [_ssh_target(), _ssh_target()]})
    local = {"id": "dev", "transport": "local", "domain": "dev.example.com"}
    with pytest.raises(ValueError, match="embedded plane"):
        DeploymentConfig.model_validate({"targets": [local]})


def test_ssm_target_needs_an_instance_id() -> None:
    with pytest.raises(ValueError, match="instance_id"):
        parse_target({"id": "stage", "transport": "ssm", "domain": "stage.example.com"})


def test_each_transport_has_exactly_its_own_fields() -> None:
    """The target is a union discriminated by ``transport``: an SSH target takes no instance id, an SSM
    target no SSH address, and the error names the field (the code never asks which kind it holds at runtime:
    the type says it)."""
    with pytest.raises(ValueError, match="instance_id"):
        parse_target(_ssh_target(instance_id="i-0123456789abcdef0"))
    with pytest.raises(ValueError, match="address"):
        parse_target(
            {
                "id": "stage",
                "transport": "ssm",
                "instance_id": "i-0123456789abcdef0",
                "address": "x",
                "domain": "stage.example.com",
            }
        )
    with pytest.raises(ValueError, match="transport"):
        parse_target({"id": "stage", "transport": "carrier-pigeon", "domain": "stage.example.com"})
    assert isinstance(parse_target(_ssh_target()), SshTarget)


@pytest.mark.parametrize(
    ("backup", "error"),
    [
        ({"flexible_window_minutes": 30}, None),
        ({"flexible_window_minutes": 1440}, None),
        ({"hourly": True, "flexible_window_minutes": 15}, None),
        ({"flexible_window_minutes": 0}, "flexible_window_minutes"),
        ({"flexible_window_minutes": 1441}, "flexible_window_minutes"),
        ({"hourly": True, "flexible_window_minutes": 60}, "not under an hourly backup's 60 minutes"),
    ],
)
def test_backup_flexible_window_is_within_the_schedulers_range(
    tmp_path: Path, backup: dict[str, object], error: str | None
) -> None:
    """EventBridge Scheduler takes 1..1440 minutes (FlexibleTimeWindow.MaximumWindowInMinutes); an hourly backup's
    window must end before the next hour's."""
    import yaml

    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump({"targets": [_ssh_target(backup=backup)]}))
    if error is None:
        assert (
            load_deployment_config(path).targets[0].backup.flexible_window_minutes == backup["flexible_window_minutes"]
        )
        return
    with pytest.raises(ConfigError, match=error) as caught:
        load_deployment_config(path)
    assert "backup" in str(caught.value)
