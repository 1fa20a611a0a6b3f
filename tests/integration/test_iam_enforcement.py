"""The local plane enforces each task role's policy (opsctl/local/iam.py): a grant missing from the catalog
fails the workflow as it would once deployed, naming the action IAM refused."""

from __future__ import annotations

import dataclasses

import pytest

from freshtrack_ops.tasks import TASKS
from opsctl.local import iam
from opsctl.local.plane import LocalPlane

pytestmark = pytest.mark.integration


def test_a_task_without_its_bucket_grant_fails_the_backup_with_access_denied(plane: LocalPlane) -> None:
    assert iam.STATE.enforcer is not None  # on by default
    original = TASKS["BackupManifest"]
    TASKS["BackupManifest"] = dataclasses.replace(original, grants=original.grants - {"bucket-write"})
    try:
        plane.reload_task_policies()
        ex = plane.run("backup", {"host": "demo", "trigger": "console", "reason": "iam test"})
    finally:
        TASKS["BackupManifest"] = original
        plane.reload_task_policies()

    assert ex.status == "FAILED", ex.output
    denials = plane.take_iam_denials()
    assert denials
    assert all("ftops-local-BackupManifest is not authorized" in denial for denial in denials)
    assert "assumed-role/ftops-local-BackupManifest-role/ftops-local-BackupManifest is not authorized" in str(ex.cause)
    assert "s3:" in str(ex.cause)
    assert plane.lock_item("demo") is None
    # the same backup with the catalog's grants succeeds
    again = plane.run("backup", {"host": "demo", "trigger": "console", "reason": "iam test"})
    assert again.status == "SUCCEEDED", (again.error, again.cause)
