"""The remediation workflow end to end on the local plane, per transport: act, verify, audit, notify; dry run; the
host lock (give way); the guard (rate limit, circuit breaker); bad input refused with nothing touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.remediation.settings import RemediationSettings
from opsctl.local import iam
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import update_plane

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        yield local_plane


def _settings(plane: LocalPlane, host: str, **changes: Any) -> None:
    plane.update_target(host, remediation=RemediationSettings(**changes).model_dump())


def _audit(host: str) -> list[Any]:
    with iam.plane_calls():
        return runtime.audit_log().entries(host)


def _new_notifications(plane: LocalPlane, before: int) -> list[dict[str, Any]]:
    return plane.notifications()[before:]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_compose_up_brings_a_stopped_service_back_and_says_before_and_after(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    _settings(plane, host)
    plane.host(host).crash_service("backend")
    assert plane.host(host).services()["backend"] != "running"
    seen = len(plane.notifications())

    ex = plane.run("remediation", {"host": host, "action": "compose-up", "service": "backend"})

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert plane.host(host).services()["backend"] == "running"
    assert plane.lock_item(host) is None
    (note,) = _new_notifications(plane, seen)
    assert note["Subject"] == "FreshTrack remediation succeeded"
    assert "Before:" in note["Message"] and "After:" in note["Message"]
    assert "compose up -d backend" in note["Message"]
    entry = next(e for e in _audit(host) if e.execution_arn == ex.arn)
    assert entry.status == "succeeded" and entry.action == "compose-up" and entry.source == "console"


def test_dry_run_reports_the_commands_and_changes_nothing(plane: LocalPlane) -> None:
    host = "demo"
    _settings(plane, host)
    plane.host(host).crash_service("backend")
    acts = plane.finished_invocations("RemediationAct")
    seen = len(plane.notifications())
    try:
        ex = plane.run("remediation", {"host": host, "action": "compose-up", "service": "backend", "dry_run": True})
        assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
        assert plane.host(host).services()["backend"] != "running"
        assert plane.finished_invocations("RemediationAct") == acts
        (note,) = _new_notifications(plane, seen)
        assert note["Subject"] == "FreshTrack remediation dry run"
        assert "compose up -d backend" in note["Message"] and "nothing was changed" in note["Message"]
    finally:
        assert plane.run("remediation", {"host": host, "action": "compose-up"}).status == "SUCCEEDED"


def test_gives_way_to_a_workflow_holding_the_host_lock(plane: LocalPlane) -> None:
    host = "demo"
    _settings(plane, host, lock_wait_s=10)
    other = "arn:aws:states:us-east-1:123456789012:execution:ftops-local-backup:running-backup"
    with iam.plane_calls():
        runtime.lock_table().acquire(host, other, 600, "backup")
    seen = len(plane.notifications())
    try:
        ex = plane.run("remediation", {"host": host, "action": "restart-service", "service": "backend"})
    finally:
        with iam.plane_calls():
            runtime.lock_table().release(host, other)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    (note,) = _new_notifications(plane, seen)
    assert note["Subject"] == "FreshTrack remediation deferred"
    assert "gave way" in note["Message"] and "LockHeld" in note["Message"]
    assert "Act" not in [run.name for run in ex.states()], "a remediation that gave way must not act"
    assert next(e for e in _audit(host) if e.execution_arn == ex.arn).status == "gave-way"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_remediation_that_keeps_failing_opens_the_breaker_and_escalates_once(
    plane: LocalPlane, transport: str
) -> None:
    host = TRANSPORTS[transport]
    # the app's filesystem is always above 1 % used: disk-cleanup runs, and its verification cannot pass
    _settings(plane, host, disk_threshold_percent=1, verify_timeout_s=5, breaker_failures=2, max_attempts=10)
    seen = len(plane.notifications())
    for _ in range(2):
        ex = plane.run("remediation", {"host": host, "action": "disk-cleanup"})
        assert ex.status == "FAILED" and ex.error == "RemediationFailed", (ex.error, ex.cause)
        assert plane.lock_item(host) is None
    third = plane.run("remediation", {"host": host, "action": "disk-cleanup"})
    assert third.status == "FAILED" and third.error == "RemediationSuppressed", (third.error, third.cause)
    subjects = [n["Subject"] for n in _new_notifications(plane, seen)]
    assert subjects.count("FreshTrack remediation FAILED") == 2
    assert subjects.count(f"FreshTrack remediation suspended on {host}") == 1
    assert subjects.count("FreshTrack remediation request rejected") == 1
    failed = [n for n in _new_notifications(plane, seen) if n["Subject"] == "FreshTrack remediation FAILED"]
    assert "docker system prune -af" in failed[0]["Message"] and "--volumes" not in failed[0]["Message"]
    assert all("--volumes" not in " ".join(c) for c in plane.host(host).commands())


def test_notify_only_tells_a_person_and_touches_nothing(plane: LocalPlane) -> None:
    seen = len(plane.notifications())
    acts = plane.finished_invocations("RemediationAct")
    ex = plane.run("remediation", {"host": "demo", "action": "notify-only"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert plane.finished_invocations("RemediationAct") == acts
    (note,) = _new_notifications(plane, seen)
    assert note["Subject"] == "FreshTrack alert" and "notify-only" in note["Message"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"host": "demo", "action": "restart-service", "service": "nginx"}, "service"),
        ({"host": "demo", "action": "restart-service"}, "service"),
        ({"host": "demo", "action": "rm -rf /"}, "action"),
        ({"host": "nope", "action": "compose-up"}, "host"),
    ],
)
def test_bad_input_is_refused_naming_the_field_with_nothing_touched(
    plane: LocalPlane, request_: dict[str, Any], field: str
) -> None:
    before = plane.host("demo").commands()
    ex = plane.run("remediation", request_)
    assert ex.status == "FAILED", ex.status
    assert ex.error in ("InvalidInput", "ConfigError"), (ex.error, ex.cause)
    assert f"{field}" in (ex.cause or "")
    assert plane.host("demo").commands() == before
    assert plane.lock_item("demo") is None
