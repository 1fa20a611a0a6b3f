"""The disaster-recovery workflow's drills on the local plane, per transport: a new server launched from the
target's launch template, bootstrapped at the backup's app version with the app config from its secret, the
verified backup restored and counted, RTO/RPO recorded, the server terminated on every path; DNS, inventory and
the primary untouched. And the refusals before anything is provisioned."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops.config import BackupSettings
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import TRANSPORT_HOSTS, sshd_plane, verified_backup

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane() as local_plane:
        yield local_plane


def _instances(plane: LocalPlane) -> dict[str, str]:
    """Every EC2 instance moto knows but the configured hosts' own (no launched servers): id -> state."""
    reservations = plane.client("ec2").describe_instances()["Reservations"]
    hosts = set(plane.ec2_instances.values())
    return {
        i["InstanceId"]: i["State"]["Name"]
        for r in reservations
        for i in r["Instances"]
        if i["InstanceId"] not in hosts
    }


def _running_instances(plane: LocalPlane) -> set[str]:
    return {i for i, state in _instances(plane).items() if state != "terminated"}


def _secret_values(plane: LocalPlane, host_name: str) -> list[str]:
    """The app config's secret values on the primary (written fresh per test: nothing else could contain them)."""
    app_dir = plane.host(host_name).app_dir
    value = secrets.token_hex(20)
    (app_dir / "secrets").mkdir(mode=0o700, exist_ok=True)
    (app_dir / "secrets" / "jwt_secret.txt").write_text(value + "\n", encoding="utf-8")
    env = (app_dir / ".env.production").read_text(encoding="utf-8")
    smtp = secrets.token_hex(12)
    (app_dir / ".env.production").write_text(
        "".join(line + "\n" for line in env.splitlines() if not line.startswith("SMTP_PASSWORD="))
        + f"SMTP_PASSWORD={smtp}\n",
        encoding="utf-8",
    )
    return [value, smtp]


def test_a_host_without_a_verified_backup_is_refused_before_anything_is_provisioned(plane: LocalPlane) -> None:
    ex = plane.run("disaster-recovery", {"host": "demo"})
    assert ex.status == "FAILED" and ex.error == "NoVerifiedBackup", (ex.error, ex.cause)
    assert ex.state_names()[:2] == ["ValidateInput", "ExplainRejection"]
    assert _instances(plane) == {}, "nothing launched"
    assert plane.lock_item("demo") is None
    assert "REFUSED" in plane.notifications()[-1]["Subject"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"mode": "recover"}, "confirm"),  # missing
        ({"mode": "recover", "confirm": "demo"}, "confirm"),  # the host id is not the domain
        ({"mode": "recover", "confirm": "other.freshtrack.local"}, "confirm"),
        ({"confirm": "demo.freshtrack.local"}, "confirm"),  # a drill takes none
        ({"replacement": "demo"}, "replacement"),  # the primary itself
        ({"replacement": "nope"}, "replacement"),  # not a standby of demo
    ],
)
def test_a_wrong_request_is_refused_naming_its_field(plane: LocalPlane, request_: dict[str, str], field: str) -> None:
    ex = plane.run("disaster-recovery", {"host": "demo", **request_})
    assert ex.status == "FAILED" and ex.error == "InvalidInput", (ex.error, ex.cause)
    assert (ex.cause or "").startswith(f"{field}:"), ex.cause
    assert ex.state_names()[:2] == ["ValidateInput", "ExplainRejection"]
    assert _running_instances(plane) == set()


@pytest.fixture(scope="module", params=sorted(TRANSPORT_HOSTS))
def drilled(request: pytest.FixtureRequest, plane: LocalPlane) -> dict[str, Any]:
    """One drill per transport, with what the tests compare it to."""
    host_name = TRANSPORT_HOSTS[str(request.param)]
    primary = plane.host(host_name)
    values = _secret_values(plane, host_name)
    backup = verified_backup(plane, host_name)
    target = plane.target(host_name)
    before = {
        "counts": primary.table_counts(),
        "services": primary.services(),
        "dns": plane.dns_records(target.domain),
        "inventory": plane.inventory().get(host_name),
        "version": primary.app_version(),
    }
    ex = plane.run("disaster-recovery", {"host": host_name, "reason": "monthly drill"})
    return {"host": host_name, "ex": ex, "backup": backup, "before": before, "secrets": values}


def test_a_drill_restores_the_verified_backup_onto_a_new_server_and_terminates_it(
    plane: LocalPlane, drilled: dict[str, Any]
) -> None:
    ex, host_name, before = drilled["ex"], drilled["host"], drilled["before"]
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    out = ex.output
    manifest = plane.manifest(drilled["backup"]["manifest_key"])
    assert out["counts"]["row_counts"] == manifest["row_counts"]  # per table, on the new server
    assert out["bootstrap"]["version"] == manifest["app_version"] == before["version"]
    instance_id = out["instance"]["instance_id"]
    assert _instances(plane)[instance_id] == "terminated" and instance_id not in plane.hosts()
    assert out["replacement"]["transport"] == ("ssm" if host_name == TRANSPORT_HOSTS["ssm"] else "ssh")
    # the primary, DNS and the inventory untouched
    primary = plane.host(host_name)
    assert primary.table_counts() == before["counts"]
    assert primary.services() == before["services"]
    assert plane.dns_records(plane.target(host_name).domain) == before["dns"]
    assert plane.inventory().get(host_name) == before["inventory"]
    servers = plane.servers()
    assert servers.replacements == () and servers.promotions == () and servers.retirements == ()
    assert plane.lock_item(host_name) is None
    # RTO and RPO recorded, and said
    record = plane.dr_history(host_name)[0]
    assert (record["mode"], record["outcome"], record["backup_id"]) == ("drill", "succeeded", manifest["backup_id"])
    assert 0 < record["rto_s"] < 600 and record["rpo_s"] >= 0
    assert list(record["phases"]) == ["provisioned", "bootstrapped", "restored", "verified"]
    notice = [n for n in plane.notifications() if n["Subject"] == "FreshTrack DR drill succeeded"][-1]
    assert host_name in notice["Message"] and "RTO" in notice["Message"] and "terminated" in notice["Message"]


@pytest.mark.parametrize(
    ("transport", "compression"),
    [("ssh", "gzip-default"), ("ssm", "lz4-stream")],  # the drills above run with the default: zstd-stream here
)
def test_a_drill_restores_a_backup_of_another_compression(plane: LocalPlane, transport: str, compression: str) -> None:
    """The new server reads what the manifest says: pg_dump's own archive, or decompresses the host's frame."""
    host_name = TRANSPORT_HOSTS[transport]
    plane.update_target(host_name, backup=BackupSettings.model_validate({"compression": compression}).model_dump())
    try:
        backup = verified_backup(plane, host_name)
    finally:
        plane.update_target(host_name, backup=BackupSettings().model_dump())
    manifest = plane.manifest(backup["manifest_key"])
    assert manifest["compression"] == compression

    ex = plane.run("disaster-recovery", {"host": host_name, "backup_id": backup["backup_id"]})

    assert ex.status == "SUCCEEDED" and ex.output is not None, (ex.error, ex.cause)
    assert ex.output["counts"]["row_counts"] == manifest["row_counts"]
    assert _running_instances(plane) == set()


def test_the_app_secrets_never_reach_history_logs_or_notifications(
    plane: LocalPlane, drilled: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ex = drilled["ex"]
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    dr = plane.target(drilled["host"]).dr
    assert dr is not None
    stored = plane.client("secretsmanager").get_secret_value(SecretId=dr.app_config_secret_name)
    assert stored["SecretString"], "the drill captured the primary's config"
    history = json.dumps(plane.history(ex.arn), default=str)
    notices = json.dumps(plane.notifications())
    for value in drilled["secrets"]:
        assert value not in history
        assert value not in notices
        assert value not in caplog.text
        assert value not in stored["SecretString"]  # kept as an archive, not as plain text in the JSON


def test_a_failure_during_the_restore_leaves_dns_and_inventory_and_terminates_the_drill_server(
    plane: LocalPlane,
) -> None:
    host_name = "demo"
    backup = verified_backup(plane, host_name)
    s3 = plane.client("s3")
    # the dump's newest version is garbage (the verified one stays underneath): the load on the new server fails
    junk = s3.put_object(Bucket=plane.bucket, Key=backup["dump_key"], Body=b"PGDMP-not-really")["VersionId"]
    try:
        ex = plane.run("disaster-recovery", {"host": host_name, "backup_id": backup["backup_id"]})
    finally:
        s3.delete_object(Bucket=plane.bucket, Key=backup["dump_key"], VersionId=junk)
    assert ex.status == "FAILED", (ex.error, ex.cause)
    names = ex.state_names()
    assert "RestoreDatabase" in names and "DnsUpsert" not in names and "TerminateAfterFailure" in names
    assert _running_instances(plane) == set()
    assert plane.servers().replacements == ()
    assert plane.lock_item(host_name) is None
    assert plane.dr_history(host_name)[0]["outcome"] == "failed"
    notice = plane.notifications()[-1]
    assert "DNS and inventory unchanged" in notice["Subject"]


def test_an_aborted_drill_has_its_server_terminated_by_the_janitor(plane: LocalPlane) -> None:
    host_name = "demo"
    verified_backup(plane, host_name)
    arn = plane.start_execution("disaster-recovery", {"host": host_name})
    deadline = time.monotonic() + 120
    while not _running_instances(plane):
        assert time.monotonic() < deadline, "the drill never launched its server"
        time.sleep(0.05)
    plane.abort(arn)
    deadline = time.monotonic() + 120
    while _running_instances(plane) or plane.lock_item(host_name) is not None:
        assert time.monotonic() < deadline, f"left behind: {_running_instances(plane)}"
        time.sleep(0.2)
    assert not [h for h in plane.hosts() if h.startswith("i-")]


def test_capture_config_keeps_the_secret_current_and_names_only_files(plane: LocalPlane, host_name: str) -> None:
    secrets_client = plane.client("secretsmanager")
    dr = plane.target(host_name).dr
    assert dr is not None
    values = _secret_values(plane, host_name)

    ex = plane.run("capture-config", {"host": host_name})

    assert ex.status == "SUCCEEDED" and ex.output is not None, (ex.error, ex.cause)
    capture = ex.output["capture"]
    assert {".env.production", "secrets/jwt_secret.txt"} <= set(capture["files"])
    stored = secrets_client.get_secret_value(SecretId=dr.app_config_secret_name)
    assert stored["VersionId"] == capture["secret_version_id"]
    history = json.dumps(plane.history(ex.arn), default=str)
    assert not any(value in history for value in values)
    unknown = plane.run("capture-config", {"host": "nope"})
    assert unknown.status == "FAILED" and "nope" in (unknown.cause or "")
