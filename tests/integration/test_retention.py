"""Retention on the local plane: backups stop for 40 simulated days, the last verified ones survive.

Real backups (PostgreSQL over sshd into moto S3), the protect and rpo tasks run in-process as Lambda
would run them, and ``opsctl.local.lifecycle`` stands in for S3's lifecycle engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.handlers import retention
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.retention.rpo import SENTINEL_AGE_HOURS
from opsctl.local.lifecycle import apply_lifecycle
from opsctl.local.moto_patches import LocalLambdaContext
from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available

pytestmark = pytest.mark.integration

BACKUPS = 10
KEEP = 7  # the default keep_last_verified
RETENTION_DAYS = 30


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=2_000, use_sshd=True) as local_plane:
        yield local_plane


def context(name: str) -> Any:
    return LocalLambdaContext(
        function_name=name, invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    )


def tags(plane: LocalPlane, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in plane.s3.get_object_tagging(Bucket=plane.bucket, Key=key)["TagSet"]}


def test_last_verified_backups_survive_forty_days_without_backups(plane: LocalPlane) -> None:
    for _ in range(BACKUPS):
        ex = plane.run("backup", {"host": "demo"})
        assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    catalog = runtime.catalog()
    entries: list[CatalogEntry] = catalog.list_backups("demo")  # newest first
    assert len(entries) == BACKUPS
    assert all(tags(plane, key) == {"retention": "expiring"} for key in plane.object_keys())

    # nothing verified yet: the RPO guard reports no verified backup and emits the sentinel
    before = retention.rpo({}, context("RetentionRpo"))
    assert before["hosts"]["demo"] == {
        "age_hours": None,
        "backup_id": None,
        "finished_at": None,
        "metric_value": SENTINEL_AGE_HOURS,
    }

    # test restores: the newest failed, the 9 before it passed
    verified_at = datetime.now(UTC).isoformat()
    for index, item in enumerate(entries):
        manifest_json = plane.s3.get_object(Bucket=plane.bucket, Key=item.manifest_key)["Body"].read().decode()
        catalog.set_verification(item, "failed" if index == 0 else "passed", verified_at, manifest_json)
    survivors, doomed = entries[1 : 1 + KEEP], [entries[0], *entries[1 + KEEP :]]

    first = retention.protect({}, context("RetentionProtect"))["hosts"]["demo"]
    assert first["protected"] == [e.backup_id for e in survivors]
    assert first["expiring"] == [e.backup_id for e in doomed]
    for item in survivors:
        assert tags(plane, item.dump_key)["retention"] == tags(plane, item.manifest_key)["retention"] == "protected"

    # backups stop; 40 days later S3's lifecycle has expired everything tagged expiring
    now = datetime.now(UTC)
    expired = apply_lifecycle(plane.s3, plane.bucket, retention_days=RETENTION_DAYS, now=now + timedelta(days=40))
    assert sorted(expired) == sorted(k for e in doomed for k in (e.dump_key, e.manifest_key))
    assert sorted(plane.object_keys()) == sorted(k for e in survivors for k in (e.dump_key, e.manifest_key))

    # the next protect run forgets the expired backups and changes no tag
    second = retention.protect({"host": "demo"}, context("RetentionProtect"))["hosts"]["demo"]
    assert sorted(second["forgotten"]) == sorted(e.backup_id for e in doomed)
    assert second["protected"] == [e.backup_id for e in survivors]
    assert second["retagged"] == []
    assert [e.backup_id for e in catalog.list_backups("demo")] == [e.backup_id for e in survivors]

    # the RPO guard: the newest verified backup (not the newer failed one) is minutes old
    after = retention.rpo({}, context("RetentionRpo"))["hosts"]["demo"]
    assert after["backup_id"] == survivors[0].backup_id
    assert 0 <= after["age_hours"] < 0.5
    assert after["metric_value"] == pytest.approx(after["age_hours"], abs=1e-3)
