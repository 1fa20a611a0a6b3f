"""A disaster-recovery request is validated and planned before any server is provisioned; every refusal names
its field and provisions nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from freshtrack_ops.config import DrSettings, LocalTarget, SshTarget, SsmTarget, TargetSet, parse_target
from freshtrack_ops.dr.models import (
    DR_TAG_KEYS,
    ProvisionSpec,
    StandbySpec,
    ValidateDisasterRecoveryEvent,
)
from freshtrack_ops.dr.plan import ensure_not_primary, plan_disaster_recovery
from freshtrack_ops.errors import BackupNotFound, InvalidInput, NoVerifiedBackup, ReplacementIsPrimary
from freshtrack_ops.ports import CatalogEntry
from tests.unit.fakes import FakeCatalog

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgJj3GHJMPrFsgkb7U9/Kb4WCn1A50BsQeevpB10MhM"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:freshtrack/prod/ssh-key-AbCdEf"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:FreshTrackOps-disaster-recovery:run-1"
DR: dict[str, Any] = {
    "launch_template": "freshtrack-prod",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "app_config_secret_name": "freshtrack/prod/app-config",
    "standbys": [
        {
            "id": "prod-standby",
            "transport": "ssh",
            "address": "standby.example.com",
            "private_key_secret_arn": ARN,
            "host_public_key": KEY,
        }
    ],
}
PROD = SshTarget.model_validate(
    {
        "id": "prod",
        "address": "freshtrack.example.com",
        "user": "freshtrack-ops",
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
        "domain": "freshtrack.example.com",
        "dr": DR,
    }
)
OTHER = SshTarget.model_validate(
    {
        "id": "other",
        "address": "other.example.com",
        "private_key_secret_arn": ARN,
        "host_public_key": KEY,
        "domain": "other.example.com",
        "dr": DR | {"standbys": [{"id": "other-standby", "transport": "ssm", "instance_id": "i-0123456789abcdef0"}]},
    }
)
NO_DR = LocalTarget(id="demo", domain="demo.example.com")
TARGETS = TargetSet(targets=(PROD, OTHER, NO_DR))


def _entry(backup_id: str, status: str) -> CatalogEntry:
    base = f"backups/prod/2026/11/28/{backup_id}"
    return CatalogEntry(
        host="prod",
        backup_id=backup_id,
        dump_key=f"{base}.dump",
        manifest_key=f"{base}.manifest.json",
        size_bytes=1,
        finished_at=f"2026-11-28T0{backup_id[-1]}:00:00+00:00",
        verification_status=status,
    )


NEWEST_UNVERIFIED = _entry("prod-20261128T030000Z-00000003", "unverified")
VERIFIED = _entry("prod-20261128T020000Z-00000002", "passed")
FAILED = _entry("prod-20261128T010000Z-00000001", "failed")


def _plan(request: dict[str, object], catalog: FakeCatalog | None = None, targets: TargetSet = TARGETS) -> Any:
    event = ValidateDisasterRecoveryEvent(
        request=request, execution_id=EXECUTION, started_at=datetime(2026, 11, 30, 13, 41, 3, tzinfo=UTC)
    )
    return plan_disaster_recovery(
        event,
        targets,
        catalog if catalog is not None else FakeCatalog([NEWEST_UNVERIFIED, VERIFIED, FAILED]),
        lambda entry: f"v1.2.0-for-{entry.backup_id[-1]}",
    )


def test_a_drill_by_default_provisions_from_the_template_and_restores_the_newest_verified_backup() -> None:
    plan = _plan({"host": "prod"})
    assert plan.mode == "drill"
    assert plan.dns is None  # a drill changes no DNS
    assert plan.backup.backup_id == VERIFIED.backup_id
    assert plan.backup_finished_at == VERIFIED.finished_at
    assert plan.dr_id.startswith("dr-prod-20261130T134103Z-")
    assert plan.revision == "v1.2.0-for-2"  # the chosen backup's manifest's app version
    assert plan.replacement_id.startswith("dr-") and len(plan.replacement_id) == 11
    assert plan.database == "frostguard"
    spec = plan.replacement
    assert isinstance(spec, ProvisionSpec)
    assert spec.launch_template == {"LaunchTemplateName": "freshtrack-prod", "Version": "$Default"}
    assert (spec.transport, spec.ssh_user, spec.private_key_secret_arn) == ("ssh", "freshtrack-ops", ARN)
    assert spec.host_key_type == "ssh-ed25519"
    assert spec.tags["freshtrack-ops:execution"] == EXECUTION
    assert spec.tags["freshtrack-ops:dr-id"] == plan.dr_id
    # exactly the tag keys the DrReplacement role may launch with (aws:TagKeys, stacks/dr_grants.py)
    assert tuple(spec.tags) == DR_TAG_KEYS
    assert spec.tags["freshtrack-ops:host"] == "prod" and spec.tags["freshtrack-ops:mode"] == "drill"
    assert plan.app_config_secret_name == "freshtrack/prod/app-config"
    assert not plan.approval_required


def test_a_recovery_with_the_domain_confirmed_plans_the_dns_change() -> None:
    plan = _plan(
        {"host": "prod", "mode": "recover", "confirm": "freshtrack.example.com", "replacement": "prod-standby"}
    )
    assert plan.dns is not None
    assert (plan.dns.hosted_zone_id, plan.dns.record_name, plan.dns.record_type, plan.dns.ttl) == (
        "Z0123456789ABCDEFGHIJ",
        "freshtrack.example.com",
        "A",
        60,
    )
    assert plan.replacement == StandbySpec(standby_id="prod-standby", transport="ssh")


@pytest.mark.parametrize(
    ("request_body", "needle"),
    [
        ({"host": "prod", "mode": "recover"}, "confirm: must equal the domain 'freshtrack.example.com'"),
        ({"host": "prod", "mode": "recover", "confirm": "frostguard"}, "confirm: must equal the domain"),
        ({"host": "prod", "confirm": "freshtrack.example.com"}, "confirm: a drill changes no DNS"),
        ({"host": "prod", "replacement": "prod"}, "replacement: 'prod' is the primary itself"),
        ({"host": "prod", "replacement": "other-standby"}, "replacement: 'other-standby' is not a standby of host"),
        ({"host": "prod", "replacement": "other"}, "replacement: 'other' is not a standby"),
        ({"host": "demo"}, "host: target 'demo' has no dr section"),
        ({"host": "nowhere"}, "host: unknown target 'nowhere'"),
        ({"host": "prod", "mode": "restore"}, "mode:"),
        ({"host": "prod", "backup_id": "latest"}, "backup_id:"),
        ({"host": "prod", "dns": "skip"}, "dns:"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(request_body: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _plan(request_body)
    assert needle in str(caught.value)


def test_approval_replaces_the_typed_confirmation_but_a_wrong_one_still_fails() -> None:
    guarded = PROD.model_copy(update={"dr": PROD.dr.model_copy(update={"approval": True}) if PROD.dr else None})
    targets = TargetSet(targets=(guarded,))
    assert _plan({"host": "prod", "mode": "recover"}, targets=targets).approval_required
    with pytest.raises(InvalidInput, match="confirm: 'prod' is not the domain"):
        _plan({"host": "prod", "mode": "recover", "confirm": "prod"}, targets=targets)


def test_only_a_verified_backup_is_restored_and_is_refused_before_provisioning() -> None:
    with pytest.raises(NoVerifiedBackup, match="no backup whose test restore passed"):
        _plan({"host": "prod"}, FakeCatalog([NEWEST_UNVERIFIED, FAILED]))
    with pytest.raises(NoVerifiedBackup, match="has not passed a test restore"):
        _plan({"host": "prod", "backup_id": NEWEST_UNVERIFIED.backup_id})
    with pytest.raises(BackupNotFound):
        _plan({"host": "prod", "backup_id": "prod-20261101T000000Z-0000000f"})
    assert _plan({"host": "prod", "backup_id": VERIFIED.backup_id}).backup.backup_id == VERIFIED.backup_id


def test_a_replacement_with_the_primarys_instance_id_or_address_is_refused() -> None:
    ensure_not_primary(PROD, address="127.0.0.2", instance_id="i-0123456789abcdef0")
    with pytest.raises(ReplacementIsPrimary, match="address"):
        ensure_not_primary(PROD, address="FreshTrack.example.com")
    ssm = SsmTarget(id="staging", instance_id="i-0123456789abcdef0", domain="staging.example.com")
    with pytest.raises(ReplacementIsPrimary, match="instance"):
        ensure_not_primary(ssm, instance_id="i-0123456789abcdef0")


def test_an_ssm_target_provisions_an_ssm_replacement_with_its_role() -> None:
    role = "arn:aws:iam::123456789012:role/freshtrack-host"
    target = parse_target(
        {
            "id": "staging",
            "transport": "ssm",
            "instance_id": "i-0123456789abcdef0",
            "domain": "staging.example.com",
            "dr": {
                "launch_template": "lt-0123456789abcdef0",
                "launch_template_version": "3",
                "instance_role_arn": role,
                "hosted_zone_id": "Z1",
                "app_config_secret_name": "freshtrack/staging/app-config",
            },
        }
    )
    catalog = FakeCatalog([replace(VERIFIED, host="staging")])
    spec = _plan({"host": "staging"}, catalog, TargetSet(targets=(target,))).replacement
    assert isinstance(spec, ProvisionSpec)
    assert spec.launch_template == {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "3"}
    assert (spec.transport, spec.instance_role_arn, spec.ssh_user, spec.host_key_type) == ("ssm", role, None, None)


def test_dr_settings_need_something_to_recover_onto() -> None:
    with pytest.raises(ValueError, match="nothing to recover onto"):
        DrSettings(hosted_zone_id="Z1", app_config_secret_name="x")
