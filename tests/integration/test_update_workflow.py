"""The update workflow on the local plane: real PostgreSQL, real sshd (and the SSM agent stand-in), the app's
own deploy and verify scripts, moto's ASL — a good update, broken releases rolled back (the database too when
their migration ran), refusals before anything is touched, the lock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsctl.local.plane import Execution, LocalPlane
from tests.faults.gates import lambda_gate
from tests.integration.conftest import TRANSPORT_HOSTS, update_plane

pytestmark = pytest.mark.integration
SCHEMA = "SELECT column_name FROM information_schema.columns WHERE table_name = 'sensors' ORDER BY 1"
MIGRATIONS = "SELECT name FROM schema_migrations ORDER BY name"
#: every test publishes versions above the last one (the plane's hosts start at v1.2.0)
_minor = itertools.count(10)


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        yield local_plane


#: releases whose migration was rolled back: every later release withdraws it, as the maintainers' fix would
_withdrawn: list[str] = []


def _next_version() -> str:
    return f"v1.{next(_minor)}.0"


def _publish(plane: LocalPlane, host_name: str, version: str, **release: Any) -> None:
    plane.host(host_name).publish_release(version, withdraw=tuple(_withdrawn), **release)
    if release.get("migration_sql") and not release.get("healthy", True):
        _withdrawn.append(version)


def _state(plane: LocalPlane, host_name: str) -> dict[str, Any]:
    host = plane.host(host_name)
    return {
        "version": host.app_version(),
        "columns": host.sql(SCHEMA),
        "migrations": host.sql(MIGRATIONS),
        "counts": host.table_counts(),
    }


def _catalogued(plane: LocalPlane, host_name: str, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = plane.dynamodb.query(
        TableName=plane.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"HOST#{host_name}"}, ":prefix": {"S": prefix}},
    )["Items"]
    return items


def _notices(plane: LocalPlane, word: str) -> list[str]:
    return [str(n["Message"]) for n in plane.notifications() if word in str(n["Subject"])]


def test_a_good_update_deploys_migrates_verifies_and_records(plane: LocalPlane, host_name: str) -> None:
    host = plane.host(host_name)
    version = _next_version()
    column = f"note_{version.replace('.', '_')}"
    _publish(plane, host_name, version, migration_sql=f"ALTER TABLE sensors ADD COLUMN {column} text;")
    deployments_before = len(_catalogued(plane, host_name, "DEPLOY#"))

    ex = plane.run("update", {"host": host_name, "version": "latest", "reason": "monthly release"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None
    assert ex.output["to_version"] == version and ex.output["schema_changed"] is True
    assert host.app_version() == version
    assert (column,) in host.sql(SCHEMA), "the release's migration ran"
    assert (host.deployed_release() or {}).get("version") == version, "the backend runs the new release"
    backups = [m for m in (_manifest_of(plane, key) for key in plane.object_keys("backups/")) if m]
    pre_update = [m for m in backups if m["backup_id"] == ex.output["backup_id"]]
    assert [m["trigger"] for m in pre_update] == ["pre-update"], "the pre-update backup is catalogued with its trigger"
    assert len(_catalogued(plane, host_name, "DEPLOY#")) == deployments_before + 1
    assert plane.lock_item(host_name) is None
    assert _notices(plane, "update succeeded")


def _manifest_of(plane: LocalPlane, key: str) -> dict[str, Any] | None:
    return plane.manifest(key) if key.endswith(".manifest.json") else None


def test_a_broken_release_whose_migration_ran_is_rolled_back_with_its_database(
    plane: LocalPlane, host_name: str
) -> None:
    before = _state(plane, host_name)
    version = _next_version()
    _publish(
        plane,
        host_name,
        version,
        migration_sql="ALTER TABLE sensors ADD COLUMN broken_note text; DELETE FROM alerts;",
        healthy=False,
    )

    ex = plane.run("update", {"host": host_name, "version": version})

    assert ex.status == "FAILED"
    assert ex.error == "RolledBack", ex.cause
    assert "VerificationFailed" in (ex.cause or "") and "restored from the pre-update backup" in (ex.cause or "")
    assert _state(plane, host_name) == before, "code, schema, migrations and every table are as before the update"
    assert "RestoreDatabase" in ex.state_names()
    # the restore took the swap path: the post-migration database is kept aside (catalogued), not dumped
    asides = plane.asides(host_name)
    assert asides, "the post-migration state is kept as the restore's aside database"
    migrated = plane.host(host_name).sql(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'sensors' AND column_name = 'broken_note'",
        db=asides[-1].name,
    )
    assert migrated == [(1,)], "the aside is the database as the broken release left it"
    notice = _notices(plane, "ROLLED BACK")
    assert notice and asides[-1].name in notice[-1], "the notification names it"
    assert plane.lock_item(host_name) is None


def test_a_broken_release_without_migration_is_rolled_back_and_the_database_left_alone(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    before = _state(plane, host_name)
    version = _next_version()
    _publish(plane, host_name, version, healthy=False)

    ex = plane.run("update", {"host": host_name, "version": version})

    assert ex.status == "FAILED"
    assert ex.error == "RolledBack", ex.cause
    assert "was NOT restored" in (ex.cause or "")
    assert "RestoreDatabase" not in ex.state_names()
    assert _state(plane, host_name) == before
    assert plane.lock_item(host_name) is None


def test_rollback_database_never_keeps_the_migrated_database_and_says_so(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    host = plane.host(host_name)
    before = _state(plane, host_name)
    version = _next_version()
    _publish(plane, host_name, version, migration_sql="ALTER TABLE sensors ADD COLUMN kept_note text;", healthy=False)

    ex = plane.run("update", {"host": host_name, "version": version, "rollback_database": "never"})

    assert ex.status == "FAILED" and ex.error == "RolledBack", ex.cause
    after = _state(plane, host_name)
    assert after["version"] == before["version"], "the code is back"
    assert ("kept_note",) in after["columns"], "the database was not restored"
    assert "NOT restored" in (ex.cause or "") and "schema" in (ex.cause or "")
    host.sql("ALTER TABLE sensors DROP COLUMN kept_note")
    host.sql("DELETE FROM schema_migrations WHERE name LIKE %s", (f"%{version}%",))


def test_a_rollback_that_fails_keeps_the_lock_and_says_where_to_look(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    host = plane.host(host_name)
    version = _next_version()
    running_before = host.app_version()  # what the runbook puts back (not taken from other tests' history)
    _publish(plane, host_name, version, healthy=False)
    host.set_fault("compose:down", {"fail": True})  # the rollback's first step
    try:
        ex = plane.run("update", {"host": host_name, "version": version})
    finally:
        host.set_fault("compose:down", None)

    assert ex.status == "FAILED"
    assert ex.error == "RollbackFailed", ex.cause
    assert "docs/runbooks.md" in (ex.cause or "")
    lock = plane.lock_item(host_name)
    assert lock is not None and lock["owner"]["S"] == ex.arn, "the lock is kept"
    assert _notices(plane, "ROLLBACK FAILED")
    # what the runbook says: put the previous version back by hand, then free the lock
    plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host_name}"}, "sk": {"S": "LOCK"}})
    fixed = plane.run("update", {"host": host_name, "version": running_before, "allow_downgrade": True})
    assert fixed.status == "SUCCEEDED", (fixed.error, fixed.cause)
    assert host.app_version() == running_before


@pytest.mark.parametrize(
    ("request_changes", "error"),
    [
        ({"version": "v9.9.9"}, "UnknownVersion"),
        ({"version": "v1.1.0"}, "DowngradeRefused"),
        ({"version": "branch:--upload-pack=touch /tmp/pwned"}, "InvalidInput"),
        ({"version": "v1.2.3; rm -rf /"}, "InvalidInput"),
        ({"version": "latest", "surprise": True}, "InvalidInput"),
        ({"version": "latest", "kind": "images"}, "InvalidInput"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_touched(
    plane: LocalPlane, request_changes: dict[str, Any], error: str
) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    before = _state(plane, host_name)
    keys_before = set(plane.object_keys("backups/"))

    ex = plane.run("update", {"host": host_name} | request_changes)

    assert ex.status == "FAILED"
    assert ex.error == error, ex.cause
    assert _state(plane, host_name) == before
    assert set(plane.object_keys("backups/")) == keys_before, "no backup was even taken"
    assert plane.lock_item(host_name) is None
    assert not Path("/tmp/pwned").exists()


def test_local_changes_are_refused_not_overwritten(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    host = plane.host(host_name)
    _publish(plane, host_name, _next_version())
    edited = Path(host.app_dir) / "docker-compose.yml"
    original = edited.read_text()
    edited.write_text(original + "# a hotfix typed at 3 AM\n")
    try:
        ex = plane.run("update", {"host": host_name, "version": "latest"})
        assert ex.status == "FAILED"
        assert ex.error == "LocalChanges", ex.cause
        assert "docker-compose.yml" in (ex.cause or "")
        assert edited.read_text().endswith("# a hotfix typed at 3 AM\n"), "the local change is untouched"
    finally:
        edited.write_text(original)


def test_an_update_while_a_restore_holds_the_lock_fails_with_lock_held(plane: LocalPlane) -> None:
    host_name = TRANSPORT_HOSTS["ssh"]
    owner = "arn:aws:states:us-east-1:123456789012:execution:ftops-local-restore:held"
    plane.dynamodb.put_item(
        TableName=plane.table,
        Item={
            "pk": {"S": f"LOCK#{host_name}"},
            "sk": {"S": "LOCK"},
            "owner": {"S": owner},
            "purpose": {"S": "restore"},
            "expires_at": {"N": "9999999999"},
        },
    )
    try:
        ex: Execution = plane.run("update", {"host": host_name, "version": "latest"})
    finally:
        plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host_name}"}, "sk": {"S": "LOCK"}})
    assert ex.status == "FAILED"
    assert ex.error == "LockHeld", ex.cause
    assert "Preflight" not in ex.state_names()


# -- an update aborted by an operator: the lock janitor and the two-step lock (update.asl.json LockForChange) ----------


def _abort_at_gate(plane: LocalPlane, arn: str, gate: Any) -> dict[str, Any]:
    """Abort ``arn`` held at ``gate`` as an operator would: the stop registers first (moto ends the execution only
    when the held Lambda returns), then the gate opens, then the janitor runs (tests/faults' lock contention)."""
    plane.sfn.stop_execution(executionArn=arn, error="Aborted", cause="aborted by an operator")
    gate.release()
    janitor: dict[str, Any] = plane.abort(arn)
    return janitor


def test_an_update_aborted_in_its_preflight_frees_the_lock_and_the_next_backup_runs(
    plane: LocalPlane, host_name: str
) -> None:
    """Held as update-prepare until LockForChange: stopped in its preflight (nothing changed yet), the janitor frees
    the lock at once, so the next backup is not refused LockHeld for the update's whole lease (4 h)."""
    before = _state(plane, host_name)
    with lambda_gate("UpdatePreflight") as gate:
        arn = plane.start_execution("update", {"host": host_name, "version": "latest"})
        gate.wait_entered()
        lock = plane.lock_item(host_name) or {}
        assert lock.get("owner", {}).get("S") == arn and lock.get("purpose", {}).get("S") == "update-prepare", lock
        janitor = _abort_at_gate(plane, arn, gate)
    ex = plane.wait(arn, "update")

    assert ex.status == "ABORTED" and "LockForChange" not in ex.state_names(), ex.state_names()
    assert janitor["released"] is True, janitor
    assert plane.lock_item(host_name) is None
    assert _state(plane, host_name) == before
    backup = plane.run("backup", {"host": host_name, "reason": "right after the aborted update"})
    assert backup.status == "SUCCEEDED", (backup.error, backup.cause)


def test_an_update_aborted_after_its_re_lock_keeps_the_lock(plane: LocalPlane) -> None:
    """From LockForChange on (held as update) the update may be between two versions: aborted there, the janitor keeps
    the lock until its lease ends, as docs/runbooks.md says, and the person hands it back. Held at the re-lock's own
    Lambda, so the host is still as it was (the abort lands before Checkout)."""
    host_name = TRANSPORT_HOSTS["ssh"]
    before = _state(plane, host_name)
    _publish(plane, host_name, _next_version())
    with lambda_gate("HostLock", when=lambda event: event.get("purpose") == "update") as gate:
        arn = plane.start_execution("update", {"host": host_name, "version": "latest"})
        gate.wait_entered()
        janitor = _abort_at_gate(plane, arn, gate)
    ex = plane.wait(arn, "update")
    try:
        assert ex.status == "ABORTED", (ex.error, ex.cause)
        assert ex.state_names()[-1] == "LockForChange" and "Checkout" not in ex.state_names(), ex.state_names()
        assert janitor["released"] is False and "the lock is kept until its lease ends" in janitor["reason"], janitor
        lock = plane.lock_item(host_name) or {}
        assert lock.get("owner", {}).get("S") == arn and lock.get("purpose", {}).get("S") == "update", lock
        assert _state(plane, host_name) == before
    finally:  # the runbook's hand-back: a person frees the kept lock
        plane.dynamodb.delete_item(TableName=plane.table, Key={"pk": {"S": f"LOCK#{host_name}"}, "sk": {"S": "LOCK"}})
