"""Retention on the local plane: backups stop for 40 simulated days, the last verified ones survive.

The ten backups are seeded, not run: each is written by the product's own code (``plan_backup`` derives its
id and keys, ``S3BackupStore`` uploads the dump with its retention tag, ``write_manifest`` writes the manifest
and the catalog item), so S3 and DynamoDB hold what ten real backups leave there, in a fraction of the time
(the backups themselves are tested in test_backup_workflow). The protect and rpo tasks are invoked in-process as
their schedules invoke them (``invoke_in_process``: their roles' policies enforced), and ``opsctl.local.lifecycle``
stands in for S3's lifecycle engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.backup.manifest import write_manifest
from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.models import DumpResult, ManifestEvent, PreflightReport, ValidateBackupEvent
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.retention.rpo import SENTINEL_AGE_HOURS
from opsctl.local import moto_patches
from opsctl.local.lifecycle import apply_lifecycle
from opsctl.local.names import function_arn, function_name
from opsctl.local.plane import ACCOUNT, REGION, LocalPlane

pytestmark = pytest.mark.integration

BACKUPS = 10
KEEP = 7  # the default keep_last_verified
RETENTION_DAYS = 30
#: how far apart the seeded backups finished (the newest one, 30 s after it started, is ~4.5 minutes old)
EVERY = timedelta(minutes=5)


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    # one host, reached without sshd: no command runs on it (its target is what the tasks look up)
    with LocalPlane(hosts=("demo",), ssm_hosts=(), readings=100, use_sshd=False) as local_plane:
        yield local_plane


def seed_backup(plane: LocalPlane, host: str, started: datetime, n: int) -> None:
    """What one successful backup of ``host`` leaves in S3 and the catalog, written by the product's code."""
    targets = runtime.targets()
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:ftops-local-backup:seeded-{n}"
    plan = plan_backup(
        ValidateBackupEvent(request={"host": host, "trigger": "schedule"}, execution_id=execution, started_at=started),
        targets,
    )
    store = runtime.store()
    body = f"seeded dump {n} (retention never reads a dump)".encode()
    upload = store.start_upload(plan.dump_key, content_type="application/octet-stream", metadata={"host": host})
    upload.upload_part(body)
    upload.complete()
    finished = started + timedelta(seconds=30)
    preflight = PreflightReport(
        server_version="16.4",
        pg_dump_version="16.4",
        app_version="v1.2.0",
        free_disk_mb=10_000,
        database_size_bytes=1_000_000,
    )
    dump = DumpResult(
        dump_key=plan.dump_key,
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        parts=1,
        row_counts={"public.temperature_readings": 100},
        compression="gzip-default",
        started_at=started,
        finished_at=finished,
        duration_s=30.0,
    )
    target = targets.get(host)
    write_manifest(ManifestEvent(plan=plan, preflight=preflight, dump=dump), target, store, runtime.catalog())


def invoke(task: str, event: dict[str, Any]) -> Any:
    """Invoke the task's function as its schedule does: in-process, with its role's policy enforced."""
    payload, failed = moto_patches.invoke_in_process(function_name(task), function_arn(task), json.dumps(event))
    result = json.loads(payload)
    assert not failed, result
    return result


def tags(plane: LocalPlane, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in plane.s3.get_object_tagging(Bucket=plane.bucket, Key=key)["TagSet"]}


def test_last_verified_backups_survive_forty_days_without_backups(plane: LocalPlane) -> None:
    now = datetime.now(UTC)
    for n in range(BACKUPS):  # oldest first, as they would have run
        seed_backup(plane, "demo", now - EVERY * (BACKUPS - n), n)
    catalog = runtime.catalog()
    entries: list[CatalogEntry] = catalog.list_backups("demo")  # newest first
    assert len(entries) == BACKUPS
    assert all(tags(plane, key) == {"retention": "expiring"} for key in plane.object_keys())

    # nothing verified yet: the RPO guard reports no verified backup and emits the sentinel
    before = invoke("RetentionRpo", {})
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

    first = invoke("RetentionProtect", {})["hosts"]["demo"]
    assert first["protected"] == [e.backup_id for e in survivors]
    assert first["expiring"] == [e.backup_id for e in doomed]
    for item in survivors:
        assert tags(plane, item.dump_key)["retention"] == tags(plane, item.manifest_key)["retention"] == "protected"

    # backups stop; 40 days later S3's lifecycle has expired everything tagged expiring
    expired = apply_lifecycle(plane.s3, plane.bucket, retention_days=RETENTION_DAYS, now=now + timedelta(days=40))
    assert sorted(expired) == sorted(k for e in doomed for k in (e.dump_key, e.manifest_key))
    assert sorted(plane.object_keys()) == sorted(k for e in survivors for k in (e.dump_key, e.manifest_key))

    # the next protect run forgets the expired backups and changes no tag
    second = invoke("RetentionProtect", {"host": "demo"})["hosts"]["demo"]
    assert sorted(second["forgotten"]) == sorted(e.backup_id for e in doomed)
    assert second["protected"] == [e.backup_id for e in survivors]
    assert second["retagged"] == []
    assert [e.backup_id for e in catalog.list_backups("demo")] == [e.backup_id for e in survivors]

    # the RPO guard: the newest verified backup (not the newer failed one) is minutes old
    after = invoke("RetentionRpo", {})["hosts"]["demo"]
    assert after["backup_id"] == survivors[0].backup_id
    assert 0 <= after["age_hours"] < 0.5
    assert after["metric_value"] == pytest.approx(after["age_hours"], abs=1e-3)
