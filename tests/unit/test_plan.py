from __future__ import annotations

from datetime import UTC, datetime

import pytest

from freshtrack_ops.backup.plan import plan_backup
from freshtrack_ops.config import LocalTarget, TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.models import ValidateBackupEvent

TARGETS = TargetSet(targets=(LocalTarget(id="demo", domain="demo.example.com"),))
STARTED = datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC)


def _event(request: dict[str, object]) -> ValidateBackupEvent:
    execution_id = "arn:aws:states:x:1:execution:sm:run-1"
    return ValidateBackupEvent(request=request, execution_id=execution_id, started_at=STARTED)


def test_plan_derives_id_and_keys_from_host_time_and_execution() -> None:
    plan = plan_backup(_event({"host": "demo", "trigger": "schedule"}), TARGETS)
    assert plan.backup_id.startswith("demo-20261128T020005Z-")
    assert plan.dump_key == f"backups/demo/2026/11/28/{plan.backup_id}.dump"
    assert plan.manifest_key == f"backups/demo/2026/11/28/{plan.backup_id}.manifest.json"
    assert plan.trigger == "schedule"
    assert plan_backup(_event({"host": "demo"}), TARGETS).backup_id == plan.backup_id  # deterministic per execution


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"host": "other"}, "host: unknown target 'other'"),
        ({"host": "demo", "trigger": "cron"}, "trigger:"),
        ({"host": "demo", "extra": 1}, "extra: Extra inputs are not permitted"),
        ({"host": "demo", "reason": "line\nbreak"}, "reason:"),
        ({}, "host: Field required"),
    ],
)
def test_bad_requests_name_the_field(request_body: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan_backup(_event(request_body), TARGETS)
    assert message in str(caught.value)
