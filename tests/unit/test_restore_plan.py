from __future__ import annotations

from datetime import UTC, datetime

import pytest

from freshtrack_ops.config import LocalTarget, RestoreSettings, TargetSet
from freshtrack_ops.errors import BackupNotFound, InvalidInput
from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.models import ValidateRestoreEvent
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.restore.plan import plan_restore, plan_test_restore, scratch_database
from tests.unit.fakes import FakeCatalog

DEMO = LocalTarget(id="demo", domain="demo.example.com")


def _entry(backup_id: str, status: str = "unverified") -> CatalogEntry:
    base = f"backups/demo/2026/11/28/{backup_id}"
    return CatalogEntry(
        host="demo",
        backup_id=backup_id,
        dump_key=f"{base}.dump",
        manifest_key=f"{base}.manifest.json",
        size_bytes=1,
        finished_at=f"2026-11-28T0{backup_id[-1]}:00:00+00:00",
        verification_status=status,
    )


NEWEST_UNVERIFIED = _entry("demo-20261128T030000Z-00000003")
VERIFIED = _entry("demo-20261128T020000Z-00000002", "passed")
FAILED = _entry("demo-20261128T010000Z-00000001", "failed")


def _catalog() -> FakeCatalog:
    return FakeCatalog([NEWEST_UNVERIFIED, VERIFIED, FAILED])


def _event(request: dict[str, object]) -> ValidateRestoreEvent:
    return ValidateRestoreEvent(
        request=request, execution_id="arn:exec:1", started_at=datetime(2026, 11, 28, tzinfo=UTC)
    )


def test_latest_and_latest_verified_pick_the_right_backups() -> None:
    targets = TargetSet(targets=(DEMO,))
    assert (
        plan_test_restore(_event({"host": "demo"}), targets, _catalog()).backup.backup_id == NEWEST_UNVERIFIED.backup_id
    )
    plan = plan_restore(
        _event({"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard"}),
        targets,
        _catalog(),
    )
    assert plan.backup.backup_id == VERIFIED.backup_id
    assert plan.safety.trigger == "pre-restore"
    assert plan.safety_backup.dump_key == plan.safety.dump_key
    assert not plan.approval_required


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"host": "demo", "backup_id": "latest-verified"}, "confirm: must equal the database name 'frostguard'"),
        ({"host": "demo", "backup_id": "latest-verified", "confirm": "Frostguard"}, "confirm:"),
        ({"host": "demo", "backup_id": "latest", "confirm": "frostguard"}, "backup_id:"),
        ({"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard", "force": True}, "force:"),
    ],
)
def test_restore_requests_without_a_true_confirmation_are_refused(
    request_body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan_restore(_event(request_body), TargetSet(targets=(DEMO,)), _catalog())
    assert message in str(caught.value)


def test_approval_replaces_the_typed_confirmation_but_a_wrong_one_still_fails() -> None:
    guarded = DEMO.model_copy(update={"restore": RestoreSettings(approval=True)})
    targets = TargetSet(targets=(guarded,))
    plan = plan_restore(
        _event({"host": "demo", "backup_id": "latest-verified"}),
        targets,
        _catalog(),
    )
    assert plan.approval_required
    with pytest.raises(InvalidInput, match="confirm"):
        plan_restore(
            _event({"host": "demo", "backup_id": "latest-verified", "confirm": "x"}),
            targets,
            _catalog(),
        )


def test_missing_backups_are_named() -> None:
    targets = TargetSet(targets=(DEMO,))
    with pytest.raises(BackupNotFound, match="backup_id: host 'demo' has no backup whose test restore passed"):
        plan_restore(
            _event({"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard"}),
            targets,
            FakeCatalog(entries=[NEWEST_UNVERIFIED, FAILED]),
        )
    with pytest.raises(BackupNotFound, match="no backup 'demo-20200101T000000Z-deadbeef'"):
        plan_test_restore(
            _event({"host": "demo", "backup_id": "demo-20200101T000000Z-deadbeef"}),
            targets,
            _catalog(),
        )


def test_scratch_database_is_never_the_live_one_and_fits_postgres_limits() -> None:
    name = scratch_database("frostguard", "demo-20261128T020000Z-00000002")
    assert name.startswith("frostguard_verify_") and name != "frostguard"
    long_name = scratch_database("x" * 63, "demo-20261128T020000Z-00000002")
    assert len(long_name) == 63 and long_name != "x" * 63


def test_step_functions_errors_are_renamed_for_fail_states() -> None:
    assert error_fields(CaughtError.model_validate({"Error": "States.Timeout", "Cause": ""})) == (
        "TimedOut",
        "the state did not finish (or was not answered) within its timeout",
    )
    assert error_fields(
        CaughtError(Error="BackupCorrupt", Cause='{"errorType": "BackupCorrupt", "errorMessage": "x"}')
    ) == (
        "BackupCorrupt",
        "x",
    )
