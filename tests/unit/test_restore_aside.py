"""The restore by swap's control-plane side beyond the names: the plan's swap fields, the path decision from the
preflight, the preflight's data-directory figure, the aside catalog (record, due, settle, report) and its DynamoDB
adapter (moto). The RestoreSwap handler's dispatch runs in the workflow tests (test_restore_swap_workflow.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.adapters.dynamo import DynamoAsideCatalog
from freshtrack_ops.backup.preflight import read_preflight
from freshtrack_ops.config import LocalTarget, RestoreSettings, TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.explain import CaughtError
from freshtrack_ops.models import (
    AsideDropResult,
    AsideForgetEvent,
    AsideRecord,
    AsideRecordEvent,
    AsideReportEvent,
    LeftoverRecord,
    RestorePlan,
    ValidateRestoreEvent,
)
from freshtrack_ops.ports import CatalogEntry, CommandResult
from freshtrack_ops.restore import aside
from freshtrack_ops.restore.plan import plan_restore
from freshtrack_ops.restore.swap import MIB, choose_restore_path, swap_names
from tests.unit.fakes import FakeCatalog

DEMO = LocalTarget(id="demo", domain="demo.example.com")
OTHER = LocalTarget(id="other", domain="other.example.com")
TARGETS = TargetSet(targets=(DEMO, OTHER))
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:restore:run-1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BACKUP = CatalogEntry(
    host="demo",
    backup_id="demo-20261128T020000Z-00000002",
    dump_key="backups/demo/2026/11/28/demo-20261128T020000Z-00000002.dump",
    manifest_key="backups/demo/2026/11/28/demo-20261128T020000Z-00000002.manifest.json",
    size_bytes=1,
    finished_at="2026-11-28T02:00:00+00:00",
    verification_status="passed",
)


def plan(request: dict[str, object] | None = None, targets: TargetSet = TARGETS) -> RestorePlan:
    body = {"host": "demo", "backup_id": BACKUP.backup_id, "confirm": "frostguard"} | (request or {})
    event = ValidateRestoreEvent(request=body, execution_id=EXECUTION, started_at=NOW)
    return plan_restore(event, targets, FakeCatalog([BACKUP]))


class MemoryAsides:
    """The aside catalog in memory, leftovers included (restore/leftover.py; tests in test_restore_leftover.py)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], AsideRecord] = {}
        self.leftover_records: dict[tuple[str, str], LeftoverRecord] = {}

    def record_leftover(self, record: LeftoverRecord) -> None:
        self.leftover_records[(record.host, record.name)] = record

    def leftovers(self, host: str) -> list[LeftoverRecord]:
        return sorted((r for (h, _), r in self.leftover_records.items() if h == host), key=lambda r: r.created_at)

    def forget_leftover(self, host: str, name: str) -> None:
        self.leftover_records.pop((host, name), None)

    def mark_leftover(self, host: str, name: str, note: str) -> None:
        if (host, name) in self.leftover_records:
            self.leftover_records[(host, name)] = self.leftover_records[(host, name)].model_copy(update={"note": note})

    def record_aside(self, record: AsideRecord) -> None:
        self.records[(record.host, record.name)] = record

    def asides(self, host: str) -> list[AsideRecord]:
        return sorted((r for (h, _), r in self.records.items() if h == host), key=lambda r: r.created_at)

    def forget_aside(self, host: str, name: str) -> None:
        self.records.pop((host, name), None)

    def mark_aside(self, host: str, name: str, note: str) -> None:
        if (host, name) in self.records:
            self.records[(host, name)] = self.records[(host, name)].model_copy(update={"note": note})


# -- the plan ----------------------------------------------------------------------------------------------------
def test_the_plan_names_the_swap_databases_and_takes_the_targets_settings() -> None:
    planned = plan()
    names = swap_names("frostguard", EXECUTION)
    assert (planned.incoming, planned.aside) == (names.incoming, names.aside)
    assert (planned.swap_enabled, planned.load_while_running, planned.keep_aside_hours) == (True, False, 24.0)
    slow = TargetSet(
        targets=(DEMO.model_copy(update={"restore": RestoreSettings(load_while_running=True, keep_aside_hours=2)}),)
    )
    assert (plan(targets=slow).load_while_running, plan(targets=slow).keep_aside_hours) == (True, 2.0)


def test_the_request_overrides_the_minimal_downtime_mode() -> None:
    assert plan({"load_while_running": True}).load_while_running is True
    quiet = TargetSet(targets=(DEMO.model_copy(update={"restore": RestoreSettings(load_while_running=True)}),))
    assert plan({"load_while_running": False}, targets=quiet).load_while_running is False


@pytest.mark.parametrize("hours", [-1, 721])
def test_keep_aside_hours_is_bounded(hours: float) -> None:
    with pytest.raises(ValueError, match="keep_aside_hours"):
        RestoreSettings(keep_aside_hours=hours)


# -- the path ----------------------------------------------------------------------------------------------------
def test_swap_when_the_data_directory_has_room_else_the_old_path() -> None:
    live, backup = 1000 * MIB, 800 * MIB
    need = 1250 + 2048
    assert choose_restore_path(True, need, live, backup).path == "swap"
    assert choose_restore_path(True, need - 1, live, backup).path == "drop"
    assert choose_restore_path(False, 10**9, live, backup).reason == "restore.swap is off"
    unknown = choose_restore_path(True, None, live, backup)
    assert unknown.path == "drop" and "unknown" in unknown.reason


def test_the_preflight_reads_the_data_directory_figure() -> None:
    lines = [
        "database_ready=true",
        "server_version=15.18",
        "database_size_bytes=1000",
        "pg_dump_version=pg_dump (PostgreSQL) 15.18",
        "app_version=v1.2.0",
        "free_disk_mb=50000",
        "host_codecs=zstd",
    ]
    known = read_preflight(DEMO, CommandResult(0, "\n".join([*lines, "pgdata_free_mb=1234"]), ""))
    assert known.pgdata_free_mb == 1234
    for unreadable in ("pgdata_free_mb=", "pgdata_free_mb=-5", ""):
        report = read_preflight(DEMO, CommandResult(0, "\n".join([*lines, unreadable]), ""))
        assert report.pgdata_free_mb is None, unreadable


# -- the catalog ---------------------------------------------------------------------------------------------------
def test_an_aside_is_recorded_with_its_drop_time_and_listed_when_due() -> None:
    store = MemoryAsides()
    record = aside.record_aside(AsideRecordEvent(action="record", plan=plan()), store, NOW)
    assert (record.name, record.live, record.backup_id) == (plan().aside, "frostguard", BACKUP.backup_id)
    assert record.drop_after == NOW + timedelta(hours=24)
    assert aside.due_asides(TARGETS, store, NOW) == []
    due = aside.due_asides(TARGETS, store, record.drop_after)
    assert [(d.host, d.name, d.live) for d in due] == [("demo", record.name, "frostguard")]
    assert aside.due_asides(TARGETS, store, record.drop_after, host="other") == []


def test_a_record_marked_by_a_failed_drop_is_left_to_an_operator() -> None:
    store = MemoryAsides()
    record = aside.record_aside(AsideRecordEvent(action="record", plan=plan()), store, NOW)
    error = CaughtError(Error="DatabaseStateRefused", Cause='{"errorMessage": "refusing: not marked as an aside"}')
    result = aside.settle(AsideForgetEvent(action="forget", host="demo", name=record.name, error=error), store)
    assert result.error is not None and result.error.startswith("DatabaseStateRefused: ")
    (kept,) = store.asides("demo")
    assert kept.note == result.error
    assert aside.due_asides(TARGETS, store, record.drop_after) == []
    dropped = aside.settle(AsideForgetEvent(action="forget", host="demo", name=record.name), store)
    assert dropped.error is None and store.asides("demo") == []


def test_due_asides_refuses_an_unknown_host() -> None:
    with pytest.raises(InvalidInput, match=r"^host: .*\(got 'nowhere'\)"):
        aside.due_asides(TARGETS, MemoryAsides(), NOW, host="nowhere")


def test_the_report_notifies_only_when_an_aside_was_kept() -> None:
    done = AsideDropResult(host="demo", name="frostguard_aside_1a2b3c4d")
    kept = AsideDropResult(host="other", name="frostguard_aside_5e6f7a8b", error="DatabaseStateRefused: not marked")
    quiet = aside.report(AsideReportEvent(action="report", results=[done]))
    assert (quiet.dropped, quiet.kept, quiet.notify) == (1, 0, False)
    loud = aside.report(AsideReportEvent(action="report", results=[done, kept]))
    assert (loud.dropped, loud.kept, loud.notify) == (1, 1, True)
    assert "other/frostguard_aside_5e6f7a8b: DatabaseStateRefused" in loud.message


@pytest.fixture
def dynamo() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="ops",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_the_dynamodb_catalog_keeps_asides_beside_the_backups(dynamo: Any) -> None:
    store = DynamoAsideCatalog(dynamo, "ops")
    first = aside.record_aside(AsideRecordEvent(action="record", plan=plan()), store, NOW)
    later = first.model_copy(update={"name": "frostguard_aside_00000000", "created_at": NOW + timedelta(hours=1)})
    store.record_aside(later)
    dynamo.put_item(TableName="ops", Item={"pk": {"S": "HOST#demo"}, "sk": {"S": "BACKUP#2026#x"}})
    assert [r.name for r in store.asides("demo")] == [first.name, later.name]  # oldest first, backups not listed
    store.mark_aside("demo", first.name, "DatabaseStateRefused: not marked")
    assert store.asides("demo")[0].note == "DatabaseStateRefused: not marked"
    store.mark_aside("demo", "frostguard_aside_ffffffff", "nothing to mark")  # a missing record: no error
    store.forget_aside("demo", first.name)
    store.forget_aside("demo", first.name)  # twice: no error
    assert [r.name for r in store.asides("demo")] == [later.name]
