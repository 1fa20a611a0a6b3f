"""A target's ``dr`` section: strict, every error names the field and value, and a bad one stops synth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from freshtrack_ops.config import (
    DeploymentConfig,
    LocalTarget,
    TargetSet,
    describe_validation_error,
    load_deployment_config,
    parse_target,
)
from freshtrack_ops.errors import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/ssh-key-AbCdEf"
ROLE = "arn:aws:iam::123456789012:role/freshtrack-host"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


def _dr(**changes: object) -> dict[str, Any]:
    return {
        "launch_template": "freshtrack-prod",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
        "app_config_secret_name": "freshtrack/prod/app-config",
    } | changes


def _ssh(target_id: str = "prod", address: str = "freshtrack.example.com", **changes: object) -> dict[str, Any]:
    return {
        "id": target_id,
        "transport": "ssh",
        "address": address,
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
        "domain": f"{target_id}.example.com",
    } | changes


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        DeploymentConfig.model_validate(data)
    return describe_validation_error(caught.value)


def test_defaults() -> None:
    target = parse_target(_ssh(dr=_dr()))
    assert target.dr is not None
    assert target.dr.effective_record_name(target) == "prod.example.com"
    assert target.dr.effective_transport(target) == "ssh"
    assert (target.dr.record_type, target.dr.record_ttl, target.dr.host_key_type) == ("A", 60, "ssh-ed25519")
    assert (target.dr.running_timeout_s, target.dr.reachable_timeout_s, target.dr.dns_insync_timeout_s) == (
        600,
        900,
        600,
    )
    assert target.dr.drill_schedule is None
    assert parse_target(_ssh()).dr is None  # no dr section: the target cannot be recovered
    local = LocalTarget(id="demo", domain="demo.example.com", dr=_dr(private_key_secret_arn=ARN))
    assert local.dr is not None and local.dr.effective_transport(local) == "ssh"


@pytest.mark.parametrize(
    ("dr", "needle"),
    [
        (_dr(hosted_zone_id="zone-1"), "targets.0.dr.hosted_zone_id: String should match pattern"),
        (_dr(launch_template="x"), "targets.0.dr.launch_template:"),
        (_dr(launch_template_version="latest"), "targets.0.dr.launch_template_version:"),
        (_dr(record_type="CNAME"), "targets.0.dr.record_type:"),
        (_dr(record_ttl=-1), "targets.0.dr.record_ttl:"),
        (_dr(drill_schedule="cron(0 4 1 * * *)"), "targets.0.dr.drill_schedule: Value error, exactly one of"),
        (_dr(drill_schedule="monthly"), "(got 'monthly')"),
        (_dr(transport="local"), "targets.0.dr.transport:"),
        (_dr(instance_role_arn="freshtrack-host"), "targets.0.dr.instance_role_arn:"),
        (_dr(app_config_secret_name="app config"), "targets.0.dr.app_config_secret_name:"),
        (_dr(reachable_timeout_s=5), "targets.0.dr.reachable_timeout_s:"),
        (_dr(dns="skip"), "targets.0.dr.dns: Extra inputs are not permitted"),
        (_dr(transport="ssm"), "dr.instance_role_arn: required for an SSM replacement"),
        (_dr(launch_template=None), "nothing to recover onto"),
        (_dr(standbys=[{"id": "s1", "transport": "ssm", "instance_id": "i-1"}]), "targets.0.dr.standbys.0.instance_id"),
        (_dr(standbys=[_ssh("prod-2", address="freshtrack.example.com")]), "standbys.0.domain: Extra inputs"),
    ],
)
def test_bad_dr_settings_name_the_field_and_value(dr: dict[str, Any], needle: str) -> None:
    assert needle in _error({"targets": [_ssh(dr=dr)]})


def _standby(standby_id: str, address: str) -> dict[str, Any]:
    return {
        "id": standby_id,
        "transport": "ssh",
        "address": address,
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
    }


@pytest.mark.parametrize(
    ("targets", "needle"),
    [
        ([_ssh(dr=_dr(standbys=[_standby("prod", "standby.example.com")]))], "'prod' is this target's own id"),
        (
            [_ssh(dr=_dr(standbys=[_standby("prod-standby", "freshtrack.example.com")]))],
            "standby 'prod-standby' is this target's own server",
        ),
        (
            [_ssh(dr=_dr(standbys=[_standby("sb", "other.example.com")])), _ssh("other", "other.example.com")],
            "standby 'sb' is the server of a target",
        ),
        (
            [_ssh(dr=_dr(standbys=[_standby("other", "standby.example.com")])), _ssh("other", "other.example.com")],
            "dr.standbys id 'other' is already used",
        ),
        (
            [_ssh(dr=_dr(standbys=[_standby("sb", "a.example.com"), _standby("sb", "b.example.com")]))],
            "standbys: id listed more than once: sb",
        ),
        (
            [
                {
                    "id": "staging",
                    "transport": "ssm",
                    "instance_id": "i-0123456789abcdef0",
                    "domain": "s.example.com",
                    "dr": _dr(instance_role_arn=ROLE, transport="ssh"),
                }
            ],
            "dr.private_key_secret_arn: required for an SSH replacement",
        ),
    ],
)
def test_a_standby_is_never_a_targets_server_and_a_replacement_is_reachable(
    targets: list[dict[str, Any]], needle: str
) -> None:
    assert needle in _error({"targets": targets})


def test_the_example_configures_disaster_recovery_and_a_bad_section_stops_synth(tmp_path: Path) -> None:
    config = load_deployment_config(EXAMPLE)
    prod = next(t for t in config.targets if t.id == "prod")
    assert prod.dr is not None and prod.dr.drill_schedule is not None
    bad = tmp_path / "deployment.yaml"
    bad.write_text(EXAMPLE.read_text().replace("hosted_zone_id: Z", "hosted_zone_id: z", 1))
    with pytest.raises(ConfigError, match=r"targets\.0\.dr\.hosted_zone_id: .*\(got 'z"):
        load_deployment_config(bad)


def test_the_targets_parameter_json_leaves_defaults_out_and_reads_back_equal() -> None:
    """The SSM parameter holds 8 KB at most: a full dump of the example's two targets is ~3.3 KB (a dr section
    alone ~1.5 KB), the compact one reads back to the same targets with every union's ``transport`` kept."""
    import json

    targets = load_deployment_config(EXAMPLE).target_set()
    compact = targets.parameter_json()

    assert TargetSet.model_validate_json(compact) == targets
    assert len(compact) < len(targets.model_dump_json()) / 2
    data = json.loads(compact)
    assert all("transport" in target for target in data["targets"])
    standbys = [s for t in data["targets"] for s in t.get("dr", {}).get("standbys", [])]
    assert standbys and all("transport" in standby for standby in standbys)
