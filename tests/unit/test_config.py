from __future__ import annotations

from pathlib import Path

import pytest

from freshtrack_ops.config import DeploymentConfig, Target, load_deployment_config
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
    target = Target.model_validate(_ssh_target())
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
        Target.model_validate({"id": "stage", "transport": "ssm", "domain": "stage.example.com"})
