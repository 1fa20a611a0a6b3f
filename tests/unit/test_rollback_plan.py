"""Planning rollbacks and image updates: what "previous" undoes, which backup is restored, the refusals; the
image pins; the image update schedule's cron check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from freshtrack_ops.config import LocalTarget, TargetSet, UpdateSettings
from freshtrack_ops.errors import BackupNotFound, InvalidInput, NothingToRollBack
from freshtrack_ops.models import ValidateBackupEvent
from freshtrack_ops.ports import CatalogEntry
from freshtrack_ops.schedules import scheduler_cron
from freshtrack_ops.update.images import pins_for
from freshtrack_ops.update.models import DeploymentOutcome, ImagesRecord, PinImagesEvent
from freshtrack_ops.update.plan import plan_update
from freshtrack_ops.update.rollback import plan_rollback
from tests.unit.fakes import FakeCatalog

TARGETS = TargetSet(targets=(LocalTarget(id="demo", domain="demo.example.com"),))
STARTED = datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC)
C = {name: (str(i) * 40)[:40] for i, name in enumerate(("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"))}


def _event(request: dict[str, object]) -> ValidateBackupEvent:
    return ValidateBackupEvent(request=request, execution_id="arn:aws:states:x:1:execution:sm:rb-1", started_at=STARTED)


def _deploy(n: int, from_v: str, to_v: str, **changes: Any) -> DeploymentOutcome:
    values: dict[str, Any] = {
        "update_id": f"demo-2026110{n}T000000Z-0000000{n}",
        "host": "demo",
        "from_version": from_v,
        "from_commit": C[from_v],
        "to_version": to_v,
        "to_commit": C[to_v],
        "backup_id": f"demo-2026110{n}T000000Z-0000000{n}",
        "schema_changed": False,
        "duration_s": 1.0,
        "outcome": "succeeded",
    }
    return DeploymentOutcome.model_validate(values | changes)


@dataclass
class History:
    items: list[DeploymentOutcome] = field(default_factory=list)  # newest first

    def record_deployment(self, outcome: DeploymentOutcome) -> None:
        self.items.insert(0, outcome)

    def deployments(self, host: str) -> list[DeploymentOutcome]:
        return [d for d in self.items if d.host == host]


def _catalog(*backup_ids: str) -> FakeCatalog:
    return FakeCatalog(
        entries=[
            CatalogEntry("demo", b, f"backups/demo/{b}.dump", f"backups/demo/{b}.m", 1, "2026") for b in backup_ids
        ]
    )


def _plan(request: dict[str, object], history: History, catalog: FakeCatalog | None = None) -> Any:
    every_backup = [d.backup_id for d in history.items]
    return plan_rollback(_event({"confirm": "demo"} | request), TARGETS, history, catalog or _catalog(*every_backup))


def test_previous_undoes_the_newest_succeeded_release_and_restores_only_if_it_changed_the_schema() -> None:
    older = _deploy(1, "v1.0.0", "v1.1.0", schema_changed=True)
    failed = _deploy(3, "v1.2.0", "v1.3.0", outcome="rolled-back")
    images = _deploy(4, "v1.2.0", "v1.2.0", kind="images", from_commit=C["v1.2.0"])
    newest = _deploy(2, "v1.1.0", "v1.2.0")
    plan = _plan({"host": "demo"}, History([images, failed, newest, older]))
    assert (plan.to_version, plan.to_commit, plan.undoes) == ("v1.1.0", C["v1.1.0"], (newest.update_id,))
    assert plan.update.version == f"commit:{C['v1.1.0']}" and plan.update.expected_commit == C["v1.2.0"]
    assert plan.update.allow_downgrade and plan.update.kind == "rollback"
    assert plan.update.backup.trigger == "pre-rollback"
    assert plan.restore_backup_id == "" and "no deployment undone changed its schema" in plan.database_decision

    always = _plan({"host": "demo", "restore_database": "always"}, History([newest, older]))
    assert always.restore_backup_id == newest.backup_id


def test_to_a_version_undoes_every_release_back_to_it_and_restores_the_oldest_ones_backup() -> None:
    older = _deploy(1, "v1.0.0", "v1.1.0", schema_changed=True)
    newest = _deploy(2, "v1.1.0", "v1.2.0")
    plan = _plan({"host": "demo", "to": "v1.0.0"}, History([newest, older]))
    assert plan.undoes == (newest.update_id, older.update_id) and plan.to_commit == C["v1.0.0"]
    assert plan.restore_backup_id == older.backup_id and older.update_id in plan.database_decision
    never = _plan({"host": "demo", "to": "v1.0.0", "restore_database": "never"}, History([newest, older]))
    assert never.restore_backup_id == "" and "although" in never.database_decision


def test_a_rollback_is_not_undone_twice_and_moves_previous_further_back() -> None:
    older = _deploy(1, "v1.0.0", "v1.1.0")
    newest = _deploy(2, "v1.1.0", "v1.2.0")
    rollback = _deploy(3, "v1.2.0", "v1.1.0", kind="rollback", undoes=(newest.update_id,))
    plan = _plan({"host": "demo"}, History([rollback, newest, older]))
    assert plan.undoes == (older.update_id,) and plan.update.expected_commit == C["v1.1.0"]


@pytest.mark.parametrize(
    ("request_body", "history", "error", "message"),
    [
        ({"host": "demo", "confirm": "prod"}, [], InvalidInput, "confirm: must equal the host id"),
        ({"host": "demo", "confirm": ""}, [], InvalidInput, "confirm:"),
        ({"host": "demo", "to": "v1.2.3; rm -rf /"}, [], InvalidInput, "to:"),
        ({"host": "demo", "restore_database": "sometimes"}, [], InvalidInput, "restore_database:"),
        ({"host": "demo", "surprise": 1}, [], InvalidInput, "surprise"),
        ({"host": "demo"}, [], NothingToRollBack, "no succeeded release deployment"),
        ({"host": "demo"}, [_deploy(1, "v1.0.0", "v1.1.0", outcome="rolled-back")], NothingToRollBack, "1 record"),
        ({"host": "demo", "to": "v0.9.0"}, [_deploy(1, "v1.0.0", "v1.1.0")], NothingToRollBack, "left: v1.0.0"),
    ],
)
def test_refusals_name_the_field(
    request_body: dict[str, object], history: list[DeploymentOutcome], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        plan_rollback(_event({"confirm": "demo"} | request_body), TARGETS, History(history), _catalog())


def test_a_backup_that_retention_removed_is_named_before_anything_is_touched() -> None:
    changed = _deploy(1, "v1.0.0", "v1.1.0", schema_changed=True)
    with pytest.raises(BackupNotFound, match="restore_database never"):
        _plan({"host": "demo"}, History([changed]), _catalog())


# -- image updates ---------------------------------------------------------------------------------------------
def test_an_image_update_keeps_the_code_and_refuses_a_version() -> None:
    plan = plan_update(_event({"host": "demo", "kind": "images"}), TARGETS)
    assert (plan.version, plan.kind, plan.pull_images) == ("current", "images", True)
    assert plan.subject.startswith("image update")
    with pytest.raises(InvalidInput, match="version: an image update keeps the running code"):
        plan_update(_event({"host": "demo", "kind": "images", "version": "v1.2.0"}), TARGETS)
    with pytest.raises(InvalidInput, match="version: required"):
        plan_update(_event({"host": "demo"}), TARGETS)
    with pytest.raises(InvalidInput, match="version:"):
        plan_update(_event({"host": "demo", "version": "current"}), TARGETS)  # the control plane's own spec


def test_pins_take_the_registry_digest_of_the_configured_repository_and_skip_built_services() -> None:
    digest = "@sha256:" + "a" * 64
    recorded = ImagesRecord.model_validate(
        {
            "images": [
                {"service": "backend", "container": "b", "configured": "ghcr.io/x/app:1.2", "image_id": "sha256:" + "1" * 64},  # noqa: E501
                {"service": "caddy", "container": "c", "configured": "caddy:2-alpine", "image_id": "sha256:" + "2" * 64,
                 "repo_digests": ["mirror.example:5000/caddy" + digest, "caddy" + digest]},
                {"service": "redis", "container": "r", "configured": "redis:7", "image_id": "sha256:" + "3" * 64},
            ]
        }
    )  # fmt: skip
    target = LocalTarget(id="demo", domain="demo.example.com")
    result = pins_for(
        PinImagesEvent(host="demo", update_id="demo-20261128T020005Z-0a1b2c3d", recorded=recorded), target
    )
    assert result.pinned == {"caddy": "caddy" + digest}
    assert result.rebuilt == ("backend",) and result.not_pinned == ("redis",)


@pytest.mark.parametrize("expression", ["cron(0 4 ? * 1#1 *)", "cron(30 3 1 * ? *)", "cron(0 4 ? * MON-FRI *)"])
def test_image_update_schedules_that_are_accepted(expression: str) -> None:
    assert scheduler_cron(expression) == expression
    assert UpdateSettings(image_update_schedule=expression).image_update_schedule == expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(30 days)", "expected cron"),
        ("cron(0 4 * * *)", "6 fields"),
        ("cron(0 4 1 * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 4 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 4 ? * SUN;reboot *)", "day-of-week"),
        ("cron(0  4 ? * SUN *)", "6 fields"),
    ],
)
def test_image_update_schedules_that_are_refused(expression: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        UpdateSettings(image_update_schedule=expression)
