"""What a fleet's schedules send (``stacks.scheduled_runs``, shared by the stack and the local plane's
``fire_schedules``) and the local plane's fleet options (``ssh_aliases``, ``ssm_aliases``), checked before anything
starts."""

from __future__ import annotations

from typing import Any

import pytest

from freshtrack_ops.config import parse_target
from opsctl.local.plane import LocalPlane
from stacks.scheduled_runs import SCHEDULED_RUNS, schedule_inputs, scheduled_run


def _ssm(target_id: str, **changes: Any) -> Any:
    return parse_target(
        {"id": target_id, "transport": "ssm", "instance_id": "i-0123456789abcdef0", "domain": "x.example.com"} | changes
    )


def test_every_target_gets_its_own_backup_input() -> None:
    targets = [_ssm(f"host-{n:02d}") for n in range(20)]
    inputs = schedule_inputs("backup", targets)
    assert list(inputs) == [t.id for t in targets]
    assert all(body == {"host": t, "trigger": "schedule", "reason": "scheduled backup"} for t, body in inputs.items())


def test_only_targets_with_the_schedule_get_an_input() -> None:
    with_images = _ssm("prod", update={"image_update_schedule": "cron(0 4 ? * 1#1 *)"})
    assert schedule_inputs("update", [with_images, _ssm("staging")]) == {
        "prod": {"host": "prod", "kind": "images", "rollback_database": "auto", "reason": "scheduled image update"}
    }


def test_the_backup_window_is_the_targets_and_no_other_run_has_one() -> None:
    spread = _ssm("prod", backup={"flexible_window_minutes": 30})
    assert scheduled_run("backup").time_window_minutes(spread) == 30
    assert scheduled_run("backup").time_window_minutes(_ssm("staging")) is None
    assert all(run.time_window_minutes(spread) is None for run in SCHEDULED_RUNS if run.workflow != "backup")


def test_an_unscheduled_workflow_is_named() -> None:
    with pytest.raises(KeyError, match="'restore' runs on no schedule"):
        schedule_inputs("restore", [_ssm("prod")])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ssh_aliases": {"extra": "nowhere"}}, r"ssh_aliases: \['extra'\] name no host of this plane"),
        ({"ssm_aliases": {"extra": "nowhere"}}, r"ssm_aliases: \['extra'\] name no host of this plane"),
        ({"ssh_aliases": {"extra": "demo-ssm"}}, r"ssh_aliases: \['extra'\] name hosts reached through SSM"),
        ({"ssh_aliases": {"demo-ssm": "demo"}}, r"target ids configured twice: \['demo-ssm'\]"),
        ({"ssh_aliases": {"twin": "demo"}, "ssm_aliases": {"twin": "demo"}}, r"configured twice: \['twin'\]"),
    ],
)
def test_plane_aliases_are_checked_before_anything_starts(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalPlane(**options)
