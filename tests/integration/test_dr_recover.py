"""Recoveries for real on the local plane, per transport: the domain's record moves to the new server after INSYNC,
the inventory follows it (the next backup runs there), the old server is retired; and a recovery whose primary is
lost (PostgreSQL and sshd stopped) uses the app config as last captured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops.config import SshTarget, SsmTarget, server_key
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import TRANSPORT_HOSTS, sshd_plane, verified_backup, wait_notification

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane() as local_plane:
        yield local_plane


def _recover(plane: LocalPlane, host_name: str) -> Any:
    domain = plane.target(host_name).domain
    return plane.run("disaster-recovery", {"host": host_name, "mode": "recover", "confirm": domain})


def test_a_recovery_moves_the_record_and_the_inventory_and_the_next_backup_follows(
    plane: LocalPlane, host_name: str
) -> None:
    domain = plane.target(host_name).domain
    old_server = server_key(plane.inventory().get(host_name))
    backup = verified_backup(plane, host_name)
    manifest = plane.manifest(backup["manifest_key"])

    ex = _recover(plane, host_name)

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    out = ex.output
    instance_id = out["instance"]["instance_id"]
    new_host = plane.host(instance_id)  # kept: it is the server now
    assert out["counts"]["row_counts"] == manifest["row_counts"]
    assert {f"public.{table}": rows for table, rows in new_host.table_counts().items()} == manifest["row_counts"]
    assert plane.dns_records(domain) == [out["replacement"]["dns_value"]]
    assert out["dns_status"]["insync"] is True
    moved = plane.inventory().get(host_name)
    if isinstance(moved, SshTarget):
        assert (moved.address, moved.port) == ("127.0.0.1", new_host.ssh_port)
    else:
        assert isinstance(moved, SsmTarget) and moved.instance_id == instance_id
    servers = plane.servers()
    assert host_name in {p.host for p in servers.promotions}
    assert old_server in {r.server for r in servers.retirements}
    assert servers.replacements == ()
    record = plane.dr_history(host_name)[0]
    assert (record["mode"], record["outcome"]) == ("recover", "succeeded")
    assert list(record["phases"])[-2:] == ["dns_insync", "domain_verified"]
    notice = [n for n in plane.notifications() if "RECOVERED" in (n["Subject"] or "")][-1]
    assert domain in notice["Message"] and out["replacement"]["dns_value"] in notice["Message"]
    assert plane.lock_item(host_name) is None

    # the next workflow addresses the new server: a table only it has is in the next backup
    new_host.sql("CREATE TABLE dr_marker (id int); INSERT INTO dr_marker VALUES (1), (2)")
    new_host.sql("ALTER TABLE dr_marker OWNER TO frostguard")  # as the app's own tables are
    after = plane.run("backup", {"host": host_name, "reason": "after the recovery"})
    assert after.status == "SUCCEEDED" and after.output is not None, (after.error, after.cause)
    assert plane.manifest(after.output["manifest_key"])["row_counts"]["public.dr_marker"] == 2


def test_a_recovery_with_the_primary_lost_uses_the_config_as_last_captured(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    verified_backup(plane, host_name)  # captured nothing yet: the recovery below captures first (primary up)
    first = _recover(plane, host_name)
    assert first.status == "SUCCEEDED", (first.error, first.cause)
    assert "capture_error" not in first.output
    lost = plane.host(first.output["instance"]["instance_id"])
    lost_server = server_key(plane.inventory().get(host_name))
    lost.stop_sshd()
    lost.stop_database()

    ex = _recover(plane, host_name)

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output["capture_error"]["Error"], "the lost primary could not be read: the stored config was used"
    new_host = plane.host(ex.output["instance"]["instance_id"])
    assert server_key(plane.inventory().get(host_name)) != lost_server
    assert lost_server in {r.server for r in plane.servers().retirements}
    assert (new_host.app_dir / ".env.production").is_file()


def test_with_approval_configured_a_rejected_recovery_moves_nothing(plane: LocalPlane) -> None:
    import time

    host_name = TRANSPORT_HOSTS["ssh"]
    target = plane.target(host_name)
    assert target.dr is not None
    plane.update_target(host_name, dr=target.dr.model_dump() | {"approval": True})
    try:
        verified_backup(plane, host_name)
        server, dns_before = server_key(plane.inventory().get(host_name)), plane.dns_records(target.domain)
        seen = len(plane.notifications())
        arn = plane.start_execution("disaster-recovery", {"host": host_name, "mode": "recover"})  # no confirm
        deadline = time.monotonic() + 300
        while not plane.pending_approval(arn):
            assert time.monotonic() < deadline, "the recovery never asked for approval"
            time.sleep(0.1)
        asked = wait_notification(plane, "FreshTrack disaster recovery needs approval", after=seen)
        assert "opsctl approve" in asked["Message"]
        plane.answer(arn, approve=False, reason="not now")
        ex = plane.wait(arn, "disaster-recovery")
    finally:
        plane.update_target(host_name, dr=target.dr.model_dump())
    assert ex.status == "FAILED" and ex.error == "ApprovalRejected", (ex.error, ex.cause)
    assert "DnsUpsert" not in ex.state_names()
    assert plane.dns_records(target.domain) == dns_before and server_key(plane.inventory().get(host_name)) == server
    assert plane.lock_item(host_name) is None
