"""The inventory as disaster recoveries change it (promotions, replacements), and the RTO/RPO record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops.config import SshTarget, SsmTarget, TargetSet, parse_target, server_key
from freshtrack_ops.dr.inventory import Promotion, Replacement, ServerRecords, apply, move
from freshtrack_ops.dr.models import DisasterRecoveryPlan, Mark, PhaseMarks, RecordEvent, RegisteredReplacement
from freshtrack_ops.dr.record import summarize

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/ssh-key-AbCdEf"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE+wqiO/Mi7dpHKnexPohlfFNe3gOfPRrK2UmhNT33dW"
NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA/wqiO/Mi7dpHKnexPohlfFNe3gOfPRrK2UmhNT33dW"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _prod(**changes: Any) -> SshTarget:
    base: dict[str, Any] = {
        "id": "prod",
        "transport": "ssh",
        "address": "203.0.113.10",
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
        "domain": "app.example.com",
        "app_dir": "/srv/freshtrack",
        "dr": {
            "launch_template": "lt-0123456789abcdef0",
            "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
            "app_config_secret_name": "freshtrack/prod/app-config",
            "standbys": [
                {"id": "prod-standby", "transport": "ssh", "address": "203.0.113.20", "private_key_secret_arn": ARN,
                 "host_public_key": NEW_KEY},
            ],
        },
    }  # fmt: skip
    target = parse_target(base | changes)
    assert isinstance(target, SshTarget)
    return target


NEW_SERVER = {"transport": "ssh", "address": "198.51.100.7", "port": 22, "user": "root",
              "private_key_secret_arn": ARN, "host_public_key": NEW_KEY}  # fmt: skip


def _promotion(fields: dict[str, Any], replaces: str = "address:203.0.113.10") -> Promotion:
    return Promotion(
        host="prod", fields=fields, replaces=replaces, server="address:198.51.100.7", dr_id="dr-x", promoted_at=NOW
    )


def test_a_promotion_moves_the_target_keeping_its_settings() -> None:
    targets = TargetSet(targets=(_prod(),))
    moved = apply(targets, ServerRecords(promotions=(_promotion(NEW_SERVER),))).get("prod")
    assert isinstance(moved, SshTarget)
    assert (moved.address, moved.host_public_key) == ("198.51.100.7", NEW_KEY)
    assert (moved.app_dir, moved.domain, moved.dr) == ("/srv/freshtrack", "app.example.com", _prod().dr)


def test_a_promotion_no_longer_applies_once_the_configuration_names_another_server() -> None:
    edited = TargetSet(targets=(_prod(address="192.0.2.99"),))
    assert apply(edited, ServerRecords(promotions=(_promotion(NEW_SERVER),))) == edited


def test_a_promotion_onto_a_standby_drops_it_from_the_standbys() -> None:
    standby = {k: v for k, v in NEW_SERVER.items()} | {"address": "203.0.113.20"}
    moved = apply(TargetSet(targets=(_prod(),)), ServerRecords(promotions=(_promotion(standby),))).get("prod")
    assert moved.dr is not None and moved.dr.standbys == ()
    assert server_key(moved) == "address:203.0.113.20"


def test_a_promotion_may_change_the_transport() -> None:
    fields = {"transport": "ssm", "instance_id": "i-0abc1234def567890"}
    moved = apply(TargetSet(targets=(_prod(),)), ServerRecords(promotions=(_promotion(fields),))).get("prod")
    assert isinstance(moved, SsmTarget) and moved.instance_id == "i-0abc1234def567890"


def test_replacements_are_reachable_by_id_but_not_listed_as_targets() -> None:
    replacement = move(_prod(), NEW_SERVER | {"dr": None}, new_id="dr-1a2b3c4d")
    records = ServerRecords(
        replacements=(
            Replacement(target=replacement.model_dump(mode="json"), dr_id="dr-x", host="prod", registered_at=NOW),
        )
    )
    inventory = apply(TargetSet(targets=(_prod(),)), records)
    assert [t.id for t in inventory.targets] == ["prod"]
    assert inventory.get("dr-1a2b3c4d") == replacement
    assert server_key(replacement) == "address:198.51.100.7"


def test_a_port_other_than_22_is_part_of_the_server() -> None:
    assert server_key(_prod(port=2222)) == "address:203.0.113.10:2222"
    assert server_key(_prod()) == "address:203.0.113.10"


def _plan(mode: str) -> DisasterRecoveryPlan:
    return DisasterRecoveryPlan.model_validate(
        {
            "dr_id": "dr-prod-20261130T120000Z-0a1b2c3d",
            "host": "prod",
            "replacement_id": "dr-0a1b2c3d",
            "mode": mode,
            "domain": "app.example.com",
            "database": "frostguard",
            "backup": {"host": "prod", "backup_id": "prod-20261130T020000Z-00000001",
                       "dump_key": "backups/prod/2026/11/30/x.dump",
                       "manifest_key": "backups/prod/2026/11/30/x.manifest.json"},
            "revision": "v1.2.0",
            "backup_finished_at": (NOW - timedelta(hours=10)).isoformat(),
            "replacement": {"kind": "standby", "standby_id": "prod-standby", "transport": "ssh"},
            "dns": None,
            "app_config_secret_name": "freshtrack/prod/app-config",
            "approval_required": False,
            "approval_timeout_s": 3600,
            "reason": "",
            "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:dr:x",
            "started_at": NOW.isoformat(),
            "lock_lease_seconds": 21600,
            "poll_s": 10,
            "verify_attempts": 18,
        }
    )  # fmt: skip


REPLACEMENT = RegisteredReplacement(
    replacement_id="prod-standby", kind="standby", transport="ssh", server="address:203.0.113.20", dns_value="x"
)


def _at(seconds: float) -> Mark:
    return Mark(at=NOW + timedelta(seconds=seconds))


@pytest.mark.parametrize(("mode", "rto"), [("drill", 400.0), ("recover", 520.0)])
def test_rto_ends_at_verified_for_a_drill_and_through_the_domain_for_a_recovery(mode: str, rto: float) -> None:
    marks = PhaseMarks(provisioned=_at(60), bootstrapped=_at(200), restored=_at(380), verified=_at(400))
    if mode == "recover":
        marks = marks.model_copy(update={"dns_insync": _at(500), "domain_verified": _at(520)})
    result = summarize(
        RecordEvent(plan=_plan(mode), outcome="succeeded", marks=marks, finished_at=NOW + timedelta(seconds=600),
                    replacement=REPLACEMENT)
    )  # fmt: skip
    assert result.rto_s == rto
    assert result.rpo_s == 10 * 3600  # the backup's age when the DR started
    assert result.phases["provisioned"] == 60 and result.phases["bootstrapped"] == 140
    assert result.phases["restored"] == 180 and result.phases["verified"] == 20
    assert f"RTO {rto:.0f} s" in result.summary


def test_a_failed_drill_counts_until_it_failed() -> None:
    result = summarize(
        RecordEvent(plan=_plan("drill"), outcome="failed", marks=PhaseMarks(provisioned=_at(30)),
                    finished_at=NOW + timedelta(seconds=95))
    )  # fmt: skip
    assert result.rto_s == 95 and list(result.phases) == ["provisioned"]
    assert "FAILED" in result.summary


def test_a_standby_replacement_is_the_primarys_settings_on_the_standbys_server() -> None:
    from freshtrack_ops.dr.replacement import register_standby

    primary = _prod()
    assert primary.dr is not None
    target, registered = register_standby(_plan("recover"), primary, primary.dr, layout=lambda _server: {})
    assert isinstance(target, SshTarget)
    assert (target.id, target.address, target.host_public_key) == ("prod-standby", "203.0.113.20", NEW_KEY)
    assert (target.app_dir, target.domain, target.dr) == ("/srv/freshtrack", "app.example.com", None)
    assert target.health_check_from == "host"  # the domain still points at the old server
    assert (registered.kind, registered.dns_value, registered.server) == ("standby", "203.0.113.20", server_key(target))


def test_a_standby_no_longer_configured_is_refused() -> None:
    from freshtrack_ops.dr.replacement import register_standby
    from freshtrack_ops.errors import InvalidInput

    primary = _prod()
    assert primary.dr is not None
    without = primary.dr.model_copy(update={"standbys": ()})
    with pytest.raises(InvalidInput, match=r"^replacement: 'prod-standby' is no longer a standby of 'prod'"):
        register_standby(_plan("recover"), primary, without, layout=lambda _server: {})
