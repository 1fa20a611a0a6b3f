"""Fleet under load (issue 17): 20 targets on two machines whose scheduled backups fire in the same minute, then a
fleet update of all 20.

The 20 targets: ``demo`` (SSH) and ``demo-ssm`` (SSM), each with nine more targets on its machine
(``ssh_aliases``/``ssm_aliases``): every one a target of its own, with its own lock, catalog and ``backups/<id>/``
prefix, on the machine's PostgreSQL and app directory. The backups are started as EventBridge Scheduler starts them
when their schedules come due together: ``plane.fire_schedules("backup")`` sends each target's schedule input as the
control-plane stack writes it (``stacks.scheduled_runs``), all 20 at the same moment.

What must hold: every backup succeeds with a manifest naming its own target and execution whose size and sha256 are
those of the object in S3 (read back and hashed); one backup per target in S3 and in the catalog; no multipart upload
left; no lock left; and every lock operation (each ``DynamoLockTable.acquire``/``release``, recorded) was made by an
execution for the target the lock belongs to, none was refused (targets never wait for each other, even on one
machine) and targets of the same machine held their locks at the same time. Then ``update-fleet`` of all 20: every
target ends ``succeeded`` or ``current`` (the fleet's "updated"), no lock left, and again no lock taken for another
target.

Measured and written to ``fleet-load.json`` in the test's temporary directory (and printed, ``pytest -s``): backups
per second, the slowest target, p50/p95 backup duration, the fleet update's total time. These are the local plane's
numbers (one Python process running moto's interpreter, every task and both machines on this machine's cores), not
AWS's: docs/fleet-load.md has the measurements and what changes at 500 hosts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from freshtrack_ops.adapters.dynamo import DynamoCatalog, DynamoLockTable
from freshtrack_ops.errors import LockHeld
from freshtrack_ops.models import Manifest
from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from stacks.scheduled_runs import schedule_inputs
from tests.integration.conftest import update_plane

pytestmark = [
    pytest.mark.integration,
    # the plane runs every invocation in this one process, sharing powertools' one Metrics object: 20 backups at once
    # add their "host" dimension over each other's (on AWS each invocation has a process of its own)
    pytest.mark.filterwarnings("ignore:Dimension 'host' has already been added:UserWarning"),
]

#: machine -> the targets on it (the machine's own target first)
MACHINES: dict[str, tuple[str, ...]] = {
    "demo": ("demo", *(f"fleet-ssh-{n:02d}" for n in range(1, 10))),
    "demo-ssm": ("demo-ssm", *(f"fleet-ssm-{n:02d}" for n in range(1, 10))),
}
MACHINE_OF = {target: machine for machine, targets in MACHINES.items() for target in targets}
FLEET_SIZE = 20
RELEASE = "v1.40.0"


@dataclass(frozen=True)
class LockOperation:
    at: float
    action: str  # acquire | release
    host: str
    owner: str
    ok: bool


class LockLog:
    """Every acquire and release of the host lock (``DynamoLockTable``, the adapter every lock task uses), in order,
    with its outcome: an acquire refused with LockHeld is recorded ``ok=False``."""

    def __init__(self) -> None:
        self.operations: list[LockOperation] = []
        self._guard = threading.Lock()

    def _add(self, action: str, host: str, owner: str, ok: bool) -> None:
        with self._guard:
            self.operations.append(LockOperation(time.monotonic(), action, host, owner, ok))

    @contextlib.contextmanager
    def recording(self) -> Iterator[LockLog]:
        acquire, release = DynamoLockTable.acquire, DynamoLockTable.release
        log = self

        def recorded_acquire(table: DynamoLockTable, host: str, owner: str, lease_seconds: int, purpose: str) -> int:
            try:
                expires_at = acquire(table, host, owner, lease_seconds, purpose)
            except LockHeld:
                log._add("acquire", host, owner, False)
                raise
            log._add("acquire", host, owner, True)
            return expires_at

        def recorded_release(table: DynamoLockTable, host: str, owner: str) -> bool:
            log._add("release", host, owner, True)  # the lock counts as held until the release is asked for
            return release(table, host, owner)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(DynamoLockTable, "acquire", recorded_acquire)
            patch.setattr(DynamoLockTable, "release", recorded_release)
            yield self

    def held_together(self) -> list[set[str]]:
        """The sets of locks (by host) held at each moment a lock was taken."""
        held: dict[str, str] = {}  # host -> owner
        moments: list[set[str]] = []
        for op in self.operations:
            if op.action == "acquire" and op.ok:
                held[op.host] = op.owner
                moments.append(set(held))
            elif op.action == "release" and held.get(op.host) == op.owner:
                del held[op.host]
        return moments


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    measured: dict[str, Any] = {"targets": FLEET_SIZE, "machines": {m: len(t) for m, t in MACHINES.items()}}
    yield measured
    path = tmp_path_factory.mktemp("fleet-load") / "fleet-load.json"
    path.write_text(json.dumps(measured, indent=2, default=str))
    print(f"\nfleet load report ({path}):\n{json.dumps(measured, indent=2, default=str)}")


@pytest.fixture(scope="module")
def plane(report: dict[str, Any]) -> Iterator[LocalPlane]:
    aliases = {machine: {t: machine for t in targets if t != machine} for machine, targets in MACHINES.items()}
    started = time.monotonic()
    with update_plane(hosts=tuple(MACHINES), ssh_aliases=aliases["demo"], ssm_aliases=aliases["demo-ssm"]) as fleet:
        report["plane_start_s"] = round(time.monotonic() - started, 2)
        yield fleet


def _owners_host(plane: LocalPlane, execution_arn: str) -> str:
    described = plane.sfn.describe_execution(executionArn=execution_arn)
    host: str = json.loads(described["input"])["host"]
    return host


def _assert_locks_stayed_with_their_targets(log: LockLog, target_of: dict[str, str]) -> None:
    """Each lock operation was made by an execution for that lock's target; none was refused; every lock taken was
    released by the execution that took it."""
    assert log.operations, "no lock was taken"
    strangers = [op for op in log.operations if op.owner not in target_of]
    assert strangers == [], "a lock operation by an execution that is not one of these"
    crossed = [op for op in log.operations if target_of[op.owner] != op.host]
    assert crossed == [], "an execution took or released another target's lock"
    refused = [op for op in log.operations if not op.ok]
    assert refused == [], "a lock was refused: one target waited for another"
    for owner, host in target_of.items():
        mine = [op.action for op in log.operations if op.owner == owner]
        assert mine[:1] == ["acquire"] and mine[-1:] == ["release"], (host, mine)


def _no_lock_items(plane: LocalPlane) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = plane.dynamodb.scan(
        TableName=plane.table,
        FilterExpression="begins_with(pk, :lock)",
        ExpressionAttributeValues={":lock": {"S": "LOCK#"}},
    )["Items"]
    return items


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def test_twenty_scheduled_backups_in_the_same_minute(plane: LocalPlane, report: dict[str, Any]) -> None:
    targets = [t.id for t in plane.inventory().targets]
    assert sorted(targets) == sorted(MACHINE_OF) and len(targets) == FLEET_SIZE
    inputs = schedule_inputs("backup", plane.inventory().targets)
    assert set(inputs) == set(targets), "every target has a backup schedule"
    live_counts = {machine: plane.host(machine).table_counts() for machine in MACHINES}
    app_versions = {machine: plane.host(machine).app_version() for machine in MACHINES}
    catalog = DynamoCatalog(plane.dynamodb, plane.table)
    # what was there before (nothing, unless another test of this module ran first): each target gains one backup
    keys_before = {target: set(plane.object_keys(f"backups/{target}/")) for target in targets}
    catalogued_before = {target: {e.backup_id for e in catalog.list_backups(target)} for target in targets}

    test_started = time.monotonic()
    with LockLog().recording() as locks:
        fired = time.monotonic()
        arns = plane.fire_schedules("backup")
        fired_s = time.monotonic() - fired
        runs: dict[str, Execution] = {target: plane.wait(arn, "backup", timeout_s=600) for target, arn in arns.items()}
        plane.wait_idle(120)

    assert set(runs) == set(targets)
    failed = {t: (ex.status, ex.error, ex.cause) for t, ex in runs.items() if ex.status != "SUCCEEDED"}
    assert failed == {}
    for target, ex in runs.items():
        assert json.loads(plane.sfn.describe_execution(executionArn=ex.arn)["input"]) == inputs[target]
        assert ex.output is not None
        manifest = Manifest.model_validate(plane.manifest(ex.output["manifest_key"]))
        body = plane.s3.get_object(Bucket=plane.bucket, Key=ex.output["dump_key"])["Body"].read()
        assert (manifest.host, manifest.execution_id, manifest.trigger) == (target, ex.arn, "schedule"), target
        assert manifest.backup_id == ex.output["backup_id"] and manifest.dump_key == ex.output["dump_key"], target
        assert hashlib.sha256(body).hexdigest() == manifest.sha256 == ex.output["sha256"], target
        assert len(body) == manifest.size_bytes == ex.output["size_bytes"], target
        assert re.fullmatch(rf"backups/{target}/\d{{4}}/\d{{2}}/\d{{2}}/{manifest.backup_id}\.dump", manifest.dump_key)
        machine = MACHINE_OF[target]
        counts = {name.removeprefix("public."): n for name, n in manifest.row_counts.items()}
        assert counts == live_counts[machine] and manifest.app_version == app_versions[machine], target
        # one backup per target: its dump and manifest under its own prefix, one catalog entry
        new_keys = set(plane.object_keys(f"backups/{target}/")) - keys_before[target]
        assert new_keys == {manifest.dump_key, ex.output["manifest_key"]}, target
        catalogued = {e.backup_id for e in catalog.list_backups(target)} - catalogued_before[target]
        assert catalogued == {manifest.backup_id}, target
    assert plane.incomplete_uploads() == []
    assert _no_lock_items(plane) == []

    _assert_locks_stayed_with_their_targets(locks, {ex.arn: target for target, ex in runs.items()})
    moments = locks.held_together()
    most = max(moments, key=len)
    for machine, on_machine in MACHINES.items():
        together = max(len(held & set(on_machine)) for held in moments)
        assert together >= 2, f"{machine}: its targets never held their locks at the same time"

    durations = {target: ex.duration_s for target, ex in runs.items()}
    starts = [ex.started_at for ex in runs.values() if ex.started_at]
    stops = [ex.stopped_at for ex in runs.values() if ex.stopped_at]
    makespan = (max(stops) - min(starts)).total_seconds()
    slowest = max(durations, key=lambda t: durations[t])
    values = sorted(durations.values())
    report["backups"] = {
        "count": len(runs),
        "start_all_s": round(fired_s, 2),
        "first_start_to_last_end_s": round(makespan, 2),
        "backups_per_s": round(len(runs) / makespan, 3),
        "bytes_stored": sum(ex.output["size_bytes"] for ex in runs.values() if ex.output),
        "duration_s": {
            "min": round(values[0], 2),
            "p50": round(statistics.median(values), 2),
            "p95": round(_percentile(values, 95), 2),
            "max": round(values[-1], 2),
        },
        "slowest": {"target": slowest, "machine": MACHINE_OF[slowest], "duration_s": round(durations[slowest], 2)},
        "per_machine_mean_s": {
            machine: round(statistics.mean(durations[t] for t in on_machine), 2)
            for machine, on_machine in MACHINES.items()
        },
        "state_transitions_per_backup": sorted({_transitions(ex.history) for ex in runs.values()}),
        "locks_held_at_once_max": len(most),
        "lock_operations": len(locks.operations),
        "test_wall_s": round(time.monotonic() - test_started, 2),
    }


def test_a_fleet_update_of_the_twenty_targets(plane: LocalPlane, report: dict[str, Any]) -> None:
    """``max_concurrency: 1``: targets on one machine share its app directory, and their locks are per target (as
    they must be: one target's lock never stops another's backup), so two of them updated at once would check out
    and deploy in one directory. A real fleet has a server per target. Each machine's first target is really updated
    (pre-update backup, checkout, deploy, verify); the machine's other targets then find it at the release and end
    ``current`` (AlreadyAtVersion), which the fleet counts as updated."""
    test_started = time.monotonic()
    for machine in MACHINES:
        plane.host(machine).publish_release(RELEASE)
    before = {machine: plane.host(machine).app_version() for machine in MACHINES}
    assert RELEASE not in before.values()

    with LockLog().recording() as locks:
        fleet = plane.run(
            "update-fleet",
            {"version": "latest", "targets": "all", "canary": "demo", "max_concurrency": 1, "reason": "fleet load"},
            timeout_s=900,
        )
        plane.wait_idle(120)

    assert fleet.status == "SUCCEEDED", (fleet.error, fleet.cause)
    assert fleet.output is not None
    statuses = {h["host"]: h["status"] for h in fleet.output["hosts"]}
    assert statuses == {t: "succeeded" if t in MACHINES else "current" for t in MACHINE_OF}
    assert all(plane.host(machine).app_version() == RELEASE for machine in MACHINES)
    assert _no_lock_items(plane) == []
    nested = {h["execution_arn"]: h["host"] for h in fleet.output["hosts"]}
    assert {arn: _owners_host(plane, arn) for arn in nested} == nested
    _assert_locks_stayed_with_their_targets(locks, nested)

    durations = {h["host"]: _duration(plane, h["execution_arn"]) for h in fleet.output["hosts"]}
    nested_transitions = {h["host"]: _transitions(plane.history(h["execution_arn"])) for h in fleet.output["hosts"]}
    report["fleet_update"] = {
        "total_s": round(fleet.duration_s, 2),
        "max_concurrency": 1,
        "counts": fleet.output["counts"],
        "updated_s": {t: round(durations[t], 2) for t in MACHINES},
        "current_mean_s": round(statistics.mean(d for t, d in durations.items() if t not in MACHINES), 2),
        "per_host_overhead_s": round((fleet.duration_s - sum(durations.values())) / FLEET_SIZE, 2),
        "state_transitions": {
            "fleet": _transitions(fleet.history),
            "updated": [nested_transitions[t] for t in MACHINES],
            "current": sorted({n for t, n in nested_transitions.items() if t not in MACHINES}),
        },
        "test_wall_s": round(time.monotonic() - test_started, 2),
    }


def _transitions(history: list[dict[str, Any]]) -> int:
    """State transitions as Step Functions counts them for its quota: the states entered."""
    return sum(1 for event in history if event["type"].endswith("StateEntered"))


def _duration(plane: LocalPlane, execution_arn: str) -> float:
    described = plane.sfn.describe_execution(executionArn=execution_arn)
    return float((described["stopDate"] - described["startDate"]).total_seconds())


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([("acquire", "demo", "arn-b", True), ("release", "demo", "arn-b", True)], "another target's lock"),
        ([("acquire", "demo", "arn-a", False)], "one target waited for another"),
        ([("acquire", "demo", "arn-x", True)], "not one of these"),
        ([("acquire", "demo", "arn-a", True)], "demo"),  # never released
    ],
)
def test_the_lock_checks_catch_a_crossed_refused_or_kept_lock(
    operations: list[tuple[str, str, str, bool]], message: str
) -> None:
    """The checks above on recorded operations (no plane): each kind of violation is caught."""
    log = LockLog()
    for action, host, owner, ok in operations:
        log._add(action, host, owner, ok)
    with pytest.raises(AssertionError, match=message):
        _assert_locks_stayed_with_their_targets(log, {"arn-a": "demo", "arn-b": "fleet-ssh-01"})


def test_locks_held_together_are_counted_per_moment() -> None:
    log = LockLog()
    for action, host, owner in [
        ("acquire", "demo", "a"),
        ("acquire", "fleet-ssh-01", "b"),
        ("release", "demo", "a"),
        ("acquire", "demo-ssm", "c"),
    ]:
        log._add(action, host, owner, True)
    assert log.held_together() == [{"demo"}, {"demo", "fleet-ssh-01"}, {"fleet-ssh-01", "demo-ssm"}]
