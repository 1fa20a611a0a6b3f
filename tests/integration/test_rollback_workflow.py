"""The rollback workflow on the local plane (the manual's Rollback Procedure on demand): "previous" from the
deployment history, code and (its schema changed) database back, recorded; refusals before anything is
touched. And image updates (``kind: images`` of the update workflow): a good one moves the digests, a broken
one is rolled back to the recorded digests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from opsctl.local.docker_shim.state import BUILT_SERVICES
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import TRANSPORT_HOSTS, update_plane

pytestmark = pytest.mark.integration
SCHEMA = "SELECT column_name FROM information_schema.columns WHERE table_name = 'sensors' ORDER BY 1"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        yield local_plane


def _deployments(plane: LocalPlane, host_name: str) -> list[dict[str, Any]]:
    items = plane.dynamodb.query(
        TableName=plane.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"HOST#{host_name}"}, ":prefix": {"S": "DEPLOY#"}},
    )["Items"]
    return [json.loads(item["outcome"]["S"]) for item in items]


def _state(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    host = plane.host(host_name)
    return {"version": host.app_version(), "columns": host.sql(SCHEMA), "counts": host.table_counts()}


def _backup_keys(plane: LocalPlane, host_name: str) -> set[str]:
    return set(plane.object_keys(f"backups/{host_name}/"))


def test_a_rollback_whose_confirm_is_not_the_host_id_is_refused_before_anything_is_touched(
    plane: LocalPlane,
) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    before, keys = _state(plane, host_name), _backup_keys(plane, host_name)

    ex = plane.run("rollback", {"host": host_name, "to": "previous", "confirm": "prod"})

    assert ex.status == "FAILED" and ex.error == "InvalidInput", (ex.error, ex.cause)
    assert "confirm:" in (ex.cause or "") and "'prod'" in (ex.cause or "")
    assert ex.state_names()[:2] == ["ValidateInput", "ExplainRejection"], "no lock, no host command"
    assert _state(plane, host_name) == before and _backup_keys(plane, host_name) == keys
    assert plane.lock_item(host_name) is None


def test_rollback_to_previous_puts_the_code_and_the_migrated_database_back(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    # nothing in the history to undo (here: no deployment at all, or all undone): refused, nothing touched
    refused = plane.run("rollback", {"host": host_name, "confirm": host_name})
    assert refused.status == "FAILED" and refused.error == "NothingToRollBack", (refused.error, refused.cause)
    assert "Preflight" not in refused.state_names() and plane.lock_item(host_name) is None

    before = _state(plane, host_name)
    host.publish_release("v1.10.0", migration_sql="ALTER TABLE sensors ADD COLUMN rolled_note text;")
    update = plane.run("update", {"host": host_name, "version": "v1.10.0"})
    assert update.status == "SUCCEEDED", (update.error, update.cause)
    assert ("rolled_note",) in host.sql(SCHEMA)

    ex = plane.run("rollback", {"host": host_name, "to": "previous", "confirm": host_name, "reason": "bad release"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert _state(plane, host_name) == before, "code, schema and rows as before the update"
    assert (host.deployed_release() or {}).get("version") == before["version"]
    assert "RestoreDatabase" in ex.state_names(), "the undone update changed the schema (restore_database auto)"
    history = _deployments(plane, host_name)
    rollback = [d for d in history if d["kind"] == "rollback"][-1]  # oldest first (DEPLOY#<finished>#<id>)
    assert rollback["undoes"] == [update.output["update_id"] if update.output else ""]
    assert rollback["to_version"] == before["version"] and rollback["outcome"] == "succeeded"
    pre_rollback = plane.manifest(next(k for k in _backup_keys(plane, host_name) if rollback["backup_id"] in k
                                       and k.endswith(".manifest.json")))  # fmt: skip
    assert pre_rollback["trigger"] == "pre-rollback"
    notices = [str(n["Message"]) for n in plane.notifications() if "rollback succeeded" in str(n["Subject"])]
    # the restore took the swap path: the database before it is kept aside, named in the notification
    assert notices and "restored from" in notices[-1] and "kept as database" in notices[-1]
    assert plane.asides(host_name), "and recorded in the catalog for drop-asides"
    assert plane.lock_item(host_name) is None

    # the update it undid is not offered again: the history has nothing left to roll back
    again = plane.run("rollback", {"host": host_name, "confirm": host_name})
    assert again.status == "FAILED" and again.error == "NothingToRollBack", (again.error, again.cause)


def test_a_rollback_that_fails_after_stopping_the_app_keeps_the_lock_and_can_be_run_again(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    host = plane.host(host_name)
    before = host.app_version()
    host.publish_release("v1.11.0")
    assert plane.run("update", {"host": host_name, "version": "v1.11.0"}).status == "SUCCEEDED"
    recorded = len(_deployments(plane, host_name))
    host.set_fault("compose:down", {"fail": True})  # the procedure's first step
    try:
        ex = plane.run("rollback", {"host": host_name, "confirm": host_name})
    finally:
        host.set_fault("compose:down", None)

    assert ex.status == "FAILED" and ex.error == "RollbackFailed", (ex.error, ex.cause)
    assert "docs/runbooks.md" in (ex.cause or "") and "Pre-rollback backup" in (ex.cause or "")
    lock = plane.lock_item(host_name)
    assert lock is not None and lock["owner"]["S"] == ex.arn, "the lock is kept"
    assert len(_deployments(plane, host_name)) == recorded, "a failed rollback is not recorded"
    # the runbook: fix, free the lock, run the same rollback again
    plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host_name}"}, "sk": {"S": "LOCK"}})
    again = plane.run("rollback", {"host": host_name, "confirm": host_name})
    assert again.status == "SUCCEEDED", (again.error, again.cause)
    assert host.app_version() == before and plane.lock_item(host_name) is None


# -- image updates (kind images of the update workflow) ------------------------------------------------------
def _running(plane: LocalPlane, host_name: str) -> dict[str, str]:
    return {s: row["RunningDigest"] for s, row in plane.host(host_name).images().items() if s not in BUILT_SERVICES}


def test_a_broken_image_update_is_rolled_back_to_the_recorded_digests(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    before, state = _running(plane, host_name), _state(plane, host_name)
    host.publish_images(healthy=False)
    try:
        ex = plane.run("update", {"host": host_name, "kind": "images"})
    finally:
        host.publish_images(healthy=True)

    assert ex.status == "FAILED" and ex.error == "RolledBack", (ex.error, ex.cause)
    assert "RollbackPinImages" in ex.state_names() and "RollbackCheckout" not in ex.state_names()
    assert _running(plane, host_name) == before, "the containers run the recorded digests again"
    assert _state(plane, host_name) == state
    assert "pinned again" in (ex.cause or "")
    override = (host.app_dir / "docker-compose.override.yml").read_text()
    assert all(f"@{digest}" in override for digest in before.values())
    assert plane.lock_item(host_name) is None

    # a good image update: the pins removed, new digests pulled and run, the code kept, recorded
    fixed = plane.run("update", {"host": host_name, "kind": "images", "reason": "monthly docker update"})
    assert fixed.status == "SUCCEEDED", (fixed.error, fixed.cause)
    assert not (host.app_dir / "docker-compose.override.yml").exists()
    after = _running(plane, host_name)
    assert all(after[s] not in (before[s], "") for s in before), (before, after)
    assert _state(plane, host_name) == state, "an image update keeps the code"
    assert [d["kind"] for d in _deployments(plane, host_name)][-1:] == ["images"] or any(
        d["kind"] == "images" and d["outcome"] == "succeeded" for d in _deployments(plane, host_name)
    )
    assert plane.lock_item(host_name) is None
