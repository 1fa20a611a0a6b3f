"""The service workflow end to end on the local plane, per transport (SSH "demo", SSM "demo-ssm"): every action does
what it says (the docker shim's state after, the commands it recorded), logs go to S3 redacted, an unban reaches
fail2ban; destructive actions refused without the typed confirmation, bad services and addresses refused, with
nothing run; a held host lock fails the execution with LockHeld; every execution audited and notified.

The validation and planning of every field are unit tests (tests/unit/test_service.py): here only a few refusals
per transport show that nothing reaches the host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from freshtrack_ops import runtime
from opsctl.local import iam
from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import update_plane

pytestmark = pytest.mark.integration

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}
SECRET = "S3cretPassw0rd"


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane() as local_plane:
        yield local_plane


def _audit(host: str, execution_arn: str) -> Any:
    with iam.plane_calls():
        return next(e for e in runtime.audit_log().entries(host) if e.execution_arn == execution_arn)


def _run(plane: LocalPlane, host: str, **request: Any) -> tuple[Execution, dict[str, Any], list[dict[str, Any]]]:
    """One execution; its act report (succeeded) and the notifications it published."""
    seen = len(plane.notifications())
    ex = plane.run("service", {"host": host, **request})
    plane.wait_ssm_idle()
    act = (ex.output or {}).get("reports", {}).get("act") or {}
    return ex, act, plane.notifications()[seen:]


def _succeeded(plane: LocalPlane, host: str, **request: Any) -> tuple[dict[str, Any], list[list[str]]]:
    """Run; it succeeded, released the lock and closed its audit entry; its act report and the docker commands."""
    before = len(plane.host(host).commands())
    ex, act, notes = _run(plane, host, **request)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert plane.lock_item(host) is None
    entry = _audit(host, ex.arn)
    assert (entry.status, entry.source, entry.action) == ("succeeded", "service", request["action"])
    (note,) = notes
    assert note["Subject"] == f"FreshTrack service {request['action']} on {host}: done"
    assert all(f"  {command}" in note["Message"] for command in act["commands"])
    return act, plane.host(host).commands()[before:]


def _compose(commands: list[list[str]]) -> list[list[str]]:
    """The docker compose commands that change something (the reads of the states after left out)."""
    return [c[2:] for c in commands if c[:2] == ["docker", "compose"] and c[2] not in ("ps", "logs")]


def _all(plane: LocalPlane, host: str, state: str) -> bool:
    return set(plane.host(host).services().values()) == {state}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_every_service_action_does_what_it_says(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    services = list(plane.target(host).compose_services)

    act, ran = _succeeded(plane, host, action="stop", service="backend", confirm=host)
    assert _compose(ran) == [["stop", "backend"]] and local.services()["backend"] == "exited"
    assert act["after"]["backend"] == "exited" and act["after"]["postgres"] == "running"
    assert list(act["after"]) == services and act["status"]["backend"].startswith("Exited (0)")

    act, ran = _succeeded(plane, host, action="start", service="backend")
    assert _compose(ran) == [["up", "-d", "backend"]] and act["after"]["backend"] == "running"

    downs = len(local.shim_state()["downs"])
    act, ran = _succeeded(plane, host, action="emergency-stop", confirm=host)
    assert _compose(ran) == [["down", "--timeout", "5"]] and _all(plane, host, "exited")
    assert [d["args"] for d in local.shim_state()["downs"][downs:]] == [["--timeout", "5"]]
    assert set(act["after"].values()) == {"exited"}

    act, ran = _succeeded(plane, host, action="emergency-restart", confirm=host)
    assert _compose(ran) == [["down", "--timeout", "10"], ["up", "-d"]] and _all(plane, host, "running")
    assert set(act["after"].values()) == {"running"}

    builds = len(local.shim_state()["builds"])
    act, ran = _succeeded(plane, host, action="force-rebuild", confirm=host)
    assert _compose(ran) == [["down"], ["build", "--no-cache"], ["up", "-d"]] and _all(plane, host, "running")
    (build,) = local.shim_state()["builds"][builds:]
    assert build["no_cache"] is True and build["services"] == ["backend", "worker"]
    assert local.shim_state()["downs"][-1]["args"] == []
    assert not [c for c in local.commands() if "--volumes" in c or "-v" in c[3:]], "data volumes are never removed"


def test_restart_and_status(plane: LocalPlane) -> None:
    host = "demo"
    act, ran = _succeeded(plane, host, action="restart", service="worker", confirm=host)
    assert _compose(ran) == [["restart", "worker"]] and act["after"]["worker"] == "running"
    act, ran = _succeeded(plane, host, action="status")
    assert _compose(ran) == [] and act["commands"] == ["docker compose ps"]
    assert act["status"]["postgres"].startswith("Up ") and act["summary"].startswith("status all services: ")


def _seed_logs(plane: LocalPlane, host: str) -> None:
    """Three backend lines (the first two hours old), the last one with a database URL and its password."""

    def stamp(ago: timedelta) -> str:
        return (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    lines = [
        f"{stamp(timedelta(hours=2))} old line before the window",
        f"{stamp(timedelta(seconds=5))} GET /api/health 200 3ms",
        f"{stamp(timedelta(seconds=1))} ERROR reconnecting to postgres://frostguard:{SECRET}@postgres:5432/frostguard"
        f" (retry with password={SECRET}, Authorization: Bearer {SECRET}x)",
    ]
    with (plane.host(host).state_dir / "logs" / "backend.log").open("a", encoding="utf-8") as log:
        log.writelines(f"{line}\n" for line in lines)


@pytest.mark.parametrize(("transport", "window"), [("ssh", {"tail": 2}), ("ssm", {"since": "1h"})])
def test_logs_are_saved_to_s3_redacted_and_never_travel_in_the_execution(
    plane: LocalPlane, transport: str, window: dict[str, Any]
) -> None:
    host = TRANSPORTS[transport]
    _seed_logs(plane, host)
    ex, act, notes = _run(plane, host, action="logs", service="backend", **window)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    key = f"reports/{host}/logs/{ex.arn.rsplit(':', 1)[-1]}.log"
    body = plane.s3.get_object(Bucket=plane.bucket, Key=key)["Body"].read().decode().splitlines()
    assert act["log_key"] == key and act["log_lines"] == len(body)
    # the shim's own lines of the last hour come first (--since); the seeded ones are the newest
    assert body[-2:] == [
        "backend-1  | GET /api/health 200 3ms",
        "backend-1  | ERROR reconnecting to postgres://<redacted>@postgres:5432/frostguard"
        " (retry with password=<redacted>, Authorization: Bearer <redacted>)",
    ]
    assert len(body) == 2 if "tail" in window else not [line for line in body if "old line" in line]
    shown = json.dumps([ex.output, ex.history, notes], default=str)
    assert SECRET not in shown and "GET /api/health" not in shown, "log lines stay in S3"
    assert f"{len(body)} line(s), redacted, saved to {key}" in notes[0]["Message"]
    if transport == "ssm":  # SSM keeps the command's output in S3: the host redacted the lines before they left it
        outputs = plane.object_keys("ssm-output/")
        assert outputs, "the SSM stand-in keeps command output as SSM does"
        kept = "".join(plane.s3.get_object(Bucket=plane.bucket, Key=k)["Body"].read().decode() for k in outputs)
        assert "Bearer <redacted>" in kept and SECRET not in kept
    assert _audit(host, ex.arn).status == "succeeded"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_unban_removes_the_address_from_the_targets_jail(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    jail = plane.target(host).daily_check.fail2ban_jail
    local.set_fail2ban(jail, ["203.0.113.7", "198.51.100.9"])
    act, ran = _succeeded(plane, host, action="unban", ip="203.0.113.7")
    assert act["commands"] == [f"fail2ban-client set {jail} unbanip 203.0.113.7"] and act["unbanned"] == "1"
    assert local.fail2ban_banned(jail) == ("198.51.100.9",)
    assert _compose(ran) == [] and act["summary"].startswith("unbanned 203.0.113.7")
    if transport == "ssh":  # fail2ban answers 0 for an address it had not banned: not banned, nothing changed
        act, _ran = _succeeded(plane, host, action="unban", ip="203.0.113.7")
        assert act["unbanned"] == "0" and act["summary"] == "203.0.113.7 was not banned: nothing to unban"
        return
    # a jail fail2ban does not have: the command fails, the execution says which command and why, and cleans up
    settings = plane.target(host).daily_check
    plane.update_target(host, daily_check=settings.model_copy(update={"fail2ban_jail": "nosuchjail"}).model_dump())
    try:
        ex, _act, notes = _run(plane, host, action="unban", ip="198.51.100.9")
    finally:
        plane.update_target(host, daily_check=settings.model_dump())
    assert (ex.status, ex.error) == ("FAILED", "ServiceActionFailed"), ex.cause
    assert "at `fail2ban-client set nosuchjail unbanip 198.51.100.9`" in (ex.cause or "")
    assert [n["Subject"] for n in notes] == [f"FreshTrack service unban on {host} FAILED"]
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "failed"
    assert local.fail2ban_banned(jail) == ("198.51.100.9",)


def _refused(plane: LocalPlane, host: str, request: dict[str, Any], field: str) -> None:
    before = plane.host(host).commands()
    ex, _act, notes = _run(plane, host, **request)
    assert (ex.status, ex.error) == ("FAILED", "InvalidInput"), (ex.error, ex.cause)
    assert (ex.cause or "").startswith(f"{field}: ") or f"; {field}: " in (ex.cause or ""), ex.cause
    assert plane.host(host).commands() == before, "nothing ran on the host"
    assert plane.lock_item(host) is None
    assert [n["Subject"] for n in notes] == ["FreshTrack service request rejected"]
    assert "AcquireLock" not in [run.name for run in ex.states()]
    assert _audit(host, ex.arn).status == "refused"


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_destructive_action_without_the_typed_confirmation_is_refused_and_nothing_runs(
    plane: LocalPlane, transport: str
) -> None:
    host = TRANSPORTS[transport]
    _refused(plane, host, {"action": "emergency-stop"}, "confirm")
    _refused(plane, host, {"action": "force-rebuild", "confirm": "prod"}, "confirm")
    assert _all(plane, host, "running")


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"action": "restart", "service": "nginx", "confirm": "demo"}, "service"),
        ({"action": "unban", "ip": "203.0.113.0/24"}, "ip"),  # the pattern refuses it
        ({"action": "unban", "ip": "203.0.113.256"}, "ip"),  # the pattern passes, ipaddress refuses
    ],
)
def test_bad_service_names_and_addresses_are_refused_before_anything_runs(
    plane: LocalPlane, request_: dict[str, Any], field: str
) -> None:
    _refused(plane, "demo", request_, field)


def test_a_held_host_lock_fails_with_lockheld_and_nothing_runs(plane: LocalPlane) -> None:
    host = "demo"
    other = "arn:aws:states:us-east-1:123456789012:execution:ftops-local-backup:running-backup"
    with iam.plane_calls():
        runtime.lock_table().acquire(host, other, 600, "backup")
    before = plane.host(host).commands()
    try:
        ex, _act, notes = _run(plane, host, action="restart", service="backend", confirm=host)
        assert plane.lock_item(host) is not None, "the other workflow's lock is left alone"
    finally:
        with iam.plane_calls():
            runtime.lock_table().release(host, other)
    assert (ex.status, ex.error) == ("FAILED", "LockHeld"), (ex.error, ex.cause)
    assert other in (ex.cause or "") and "backup" in (ex.cause or "") and "nothing was run" in (ex.cause or "")
    assert plane.host(host).commands() == before
    assert "Act" not in [run.name for run in ex.states()]
    assert [run.name for run in ex.states()].count("AcquireLock") == 7  # the first try and six more, 5 s apart
    (note,) = notes
    assert note["Subject"] == f"FreshTrack service restart on {host} not run: host locked"
    assert _audit(host, ex.arn).status == "gave-way"
