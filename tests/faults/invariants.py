"""What every fault case checks after the fault: the invariants of issue 17, each a named check.

A case takes a ``Snapshot`` before injecting its fault and calls ``check`` once the execution has ended and the
plane is idle; ``check`` raises on the first broken invariant and returns the names of those that held (the
matrix's last column). Where a case expects a change (a restore replaces the live data with a backup's, a backup
adds its objects), it says so: nothing else may differ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opsctl.local.execution import FINAL_STATUSES, Execution
from opsctl.local.plane import LocalPlane

#: the live database's content: every table's rows in a stable order, hashed (equal content, equal digest)
DIGEST_SQL = """
SELECT table_name, (xpath('/row/d/text()',
       query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, %%L ORDER BY t::text), %%L)) AS d FROM %%I.%%I t',
                           chr(10), '', table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name
"""


def database_digest(plane: LocalPlane, host: str, db: str = "frostguard") -> dict[str, str]:
    """Each public table of ``db`` on ``host`` -> the md5 of its rows (as text, sorted)."""
    return {str(name): str(digest) for name, digest in plane.host(host).sql(DIGEST_SQL, db=db)}


#: objects a run leaves by design: Run Command's output (stdout/stderr of each invocation), expired by the
#: bucket's lifecycle rule (stacks/storage_stack.py)
BY_DESIGN_PREFIXES = ("ssm-output/",)


def objects(plane: LocalPlane) -> frozenset[str]:
    return frozenset(k for k in plane.object_keys("") if not k.startswith(BY_DESIGN_PREFIXES))


def instances(plane: LocalPlane) -> frozenset[str]:
    """EC2 instances not terminated (the configured hosts' and any a recovery or drill launched)."""
    pages = plane.client("ec2").get_paginator("describe_instances").paginate()
    return frozenset(
        instance["InstanceId"]
        for page in pages
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
    )


def databases(plane: LocalPlane, host: str) -> set[str]:
    return {str(row[0]) for row in plane.host(host).sql("SELECT datname FROM pg_database", db="postgres")}


@dataclass(frozen=True)
class Snapshot:
    host: str
    digest: dict[str, str]
    objects: frozenset[str]
    databases: frozenset[str]
    instances: frozenset[str]
    notifications: int


def snapshot(plane: LocalPlane, host: str) -> Snapshot:
    """The state a fault must not corrupt, taken before it is injected (the plane idle)."""
    return Snapshot(
        host=host,
        digest=database_digest(plane, host),
        objects=objects(plane),
        databases=frozenset(databases(plane, host)),
        instances=instances(plane),
        notifications=len(plane.notifications()),
    )


def check(
    plane: LocalPlane,
    before: Snapshot,
    execution: Execution,
    *,
    end: str,
    data: dict[str, str] | None = None,
    new_objects: Callable[[str], bool] = lambda _key: False,
    gone_objects: Callable[[str], bool] = lambda _key: False,
    notification: str | Iterable[str] = (),
    hosts: Iterable[str] = (),
    new_databases: Callable[[str], bool] = lambda _name: False,
    new_instances: Callable[[str], bool] = lambda _instance: False,
    kept_locks: Mapping[str, str] | None = None,
    lock_kept: bool = False,
) -> tuple[str, ...]:
    """Every invariant after ``execution`` ended, or AssertionError naming the one broken.

    ``end``: the expected end, ``STATUS`` or ``STATUS Error`` (e.g. ``FAILED HostConnectionLost``); ``data``: the
    live database's expected digest (default: unchanged); ``new_objects``/``gone_objects``: which object keys may
    appear/disappear (default: none); ``notification``: the one notification expected, by a substring of its
    subject (several: each exactly once, in any order; one named n times, n times); ``hosts``: more hosts whose
    lock must be free. What a workflow leaves by design, named by the case: ``new_databases`` (a restore by swap's
    catalogued aside), ``new_instances`` (a failed recovery keeps its server for forensics), ``kept_locks`` (host ->
    the execution that keeps the host's lock until its lease ends, as an update whose rollback failed does: held by
    it, with a lease that ends), ``lock_kept`` (this execution keeps its host's lock: a restore interrupted after it
    started changing the live side leaves the half-way host to a person)."""
    plane.wait_idle()
    held: list[str] = []
    status, _, error = end.partition(" ")
    assert execution.status in FINAL_STATUSES and execution.status == status, (execution.status, end)
    assert not error or execution.error == error, (execution.error, execution.cause, end)
    held.append("defined end state")

    expected = before.digest if data is None else data
    assert database_digest(plane, before.host) == expected, "the live database differs from what was expected"
    held.append("no data lost")

    assert plane.incomplete_uploads() == [], plane.incomplete_uploads()
    held.append("no orphaned multipart upload")

    now = objects(plane)
    strays = {k for k in now - before.objects if not new_objects(k)}
    lost = {k for k in before.objects - now if not gone_objects(k)}
    assert not strays, f"stray objects: {sorted(strays)}"
    assert not lost, f"objects gone: {sorted(lost)}"
    held.append("no stray object")

    scratch = {name for name in databases(plane, before.host) - before.databases if not new_databases(name)}
    assert not scratch, f"scratch databases left: {sorted(scratch)}"
    held.append("no scratch database")

    drill = {instance for instance in instances(plane) - before.instances if not new_instances(instance)}
    assert not drill, f"instances left: {sorted(drill)}"
    held.append("no drill host")

    kept = dict(kept_locks or {}) | ({before.host: execution.arn} if lock_kept else {})
    for host in {before.host, *hosts} - kept.keys():
        assert plane.lock_item(host) is None, f"{host} is still locked: {plane.lock_item(host)}"
    for host, owner in kept.items():
        item = plane.lock_item(host)
        assert item is not None and item["owner"]["S"] == owner, f"{host}: the lock is not kept by {owner}: {item}"
        # kept, not stuck: its lease ends (at most a day: the lock task's longest lease) and then anyone may take it
        assert int(item["expires_at"]["N"]) <= time.time() + 86_400, f"{host}: a lease without an end: {item}"
    if lock_kept:
        held.append("lock kept for a person (by design)")
    else:
        held.append("no stuck lock" if not kept else "no stuck lock (kept until its lease ends)")

    subjects = [str(n["Subject"]) for n in plane.notifications()[before.notifications :]]
    wanted = [notification] if isinstance(notification, str) else list(notification)
    assert len(subjects) == len(wanted), f"notifications {subjects}, expected one each of {wanted}"
    for part in set(wanted):  # a part named twice (two executions saying the same) is expected twice
        count = wanted.count(part)
        found = sum(part in s for s in subjects)
        assert found == count, f"not exactly {count} notification(s) with {part!r}: {subjects}"
    held.append("one notification" if len(wanted) == 1 else f"{len(wanted)} notifications")
    return tuple(held)


def ran_through(execution: Execution, state: str) -> bool:
    """Whether the execution entered ``state`` (the fault hit where the case meant it to)."""
    return state in execution.state_names()


def history_errors(execution: Execution) -> list[str]:
    """The error of every failed task attempt, in order (a retried fault shows once per attempt)."""
    errors: list[str] = []
    for event in execution.history:
        details: dict[str, Any] = (
            event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
        )
        if details.get("error"):
            errors.append(str(details["error"]))
    return errors
