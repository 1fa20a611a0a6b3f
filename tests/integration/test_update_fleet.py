"""The update-fleet workflow on the local plane: three real hosts (two over SSH, one over SSM), nested update
executions with their own locks, backups, deployments and rollbacks. Few and lean: every nested update here costs
10-20 s; the fleet's logic in all its cases (concurrency, halts, operator halt, reports) is covered in seconds by
tests/asl/test_update_fleet_runs.py against a stub update workflow."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from opsctl.local.plane import LocalPlane
from tests.integration.conftest import update_plane

pytestmark = pytest.mark.integration
#: the fleet: the plane's two transport hosts and one more SSH host
FLEET = ("demo", "demo-ssm", "demo-b")
SCHEMA = "SELECT column_name FROM information_schema.columns WHERE table_name = 'sensors' ORDER BY 1"
_minor = itertools.count(30)


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with update_plane(hosts=FLEET, ssm_hosts=("demo-ssm",)) as local_plane:
        yield local_plane


def _publish(
    plane: LocalPlane, version: str, *, broken: tuple[str, ...] = (), migration_sql: str | None = None
) -> None:
    """Release ``version`` on every host's origin; healthy except on ``broken`` (its backend answers 500)."""
    for host in FLEET:
        plane.host(host).publish_release(version, migration_sql=migration_sql, healthy=host not in broken)


def _state(plane: LocalPlane, host: str) -> dict[str, Any]:
    """Everything an update touches: code, running release, schema, catalogued deployments and backups, lock."""
    local = plane.host(host)
    deployments = plane.dynamodb.query(
        TableName=plane.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": "DEPLOY#"}},
    )["Items"]
    return {
        "version": local.app_version(),
        "running": local.deployed_release(),
        "columns": local.sql(SCHEMA),
        "deployments": len(deployments),
        "backups": plane.object_keys(f"backups/{host}/"),
        "lock": plane.lock_item(host),
    }


def _nested(plane: LocalPlane, fleet_arn: str) -> dict[str, str]:
    """The update executions this fleet started: host -> status."""
    fleet = fleet_arn.rsplit(":", 1)[-1]
    return {
        e["name"].removeprefix(f"{fleet}-"): e["status"]
        for e in plane.executions("update")
        if e["name"].startswith(f"{fleet}-")
    }


def test_a_fleet_whose_canary_fails_leaves_the_others_untouched(plane: LocalPlane) -> None:
    version = f"v1.{next(_minor)}.0"
    _publish(plane, version, broken=("demo",))
    before = {host: _state(plane, host) for host in FLEET}

    ex = plane.run(
        "update-fleet", {"version": version, "targets": "all", "canary": "demo", "max_concurrency": 2}, timeout_s=600
    )

    assert ex.status == "FAILED"
    assert ex.error == "FleetUpdateFailed", ex.cause
    assert "demo rolled-back: RolledBack" in (ex.cause or "")
    assert "Not started (unchanged): demo-ssm, demo-b." in (ex.cause or "")
    assert _nested(plane, ex.arn) == {"demo": "FAILED"}, "no other host's update was even started"
    for host in ("demo-ssm", "demo-b"):
        assert _state(plane, host) == before[host], f"{host} is untouched: code, release, schema, catalog, lock"
    canary = _state(plane, "demo")
    assert canary["version"] == before["demo"]["version"], "the canary was rolled back"
    assert canary["deployments"] == before["demo"]["deployments"] + 1 and canary["lock"] is None
    report = ex.state_output("Report")
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [
        ("demo", "rolled-back"),
        ("demo-ssm", "skipped"),
        ("demo-b", "skipped"),
    ]
    assert any("fleet update FAILED" in str(n["Subject"]) for n in plane.notifications())


def test_a_good_fleet_update_updates_every_host(plane: LocalPlane) -> None:
    version = f"v1.{next(_minor)}.0"
    column = f"fleet_{version.replace('.', '_')}"
    _publish(plane, version, migration_sql=f"ALTER TABLE sensors ADD COLUMN {column} text;")
    before = {host: _state(plane, host) for host in FLEET}

    # the canary over SSM, then both SSH hosts at once
    ex = plane.run(
        "update-fleet",
        {"version": "latest", "targets": "all", "canary": "demo-ssm", "max_concurrency": 2, "reason": "monthly"},
        timeout_s=600,
    )

    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert ex.output is not None
    assert [(h["host"], h["status"], h["version"]) for h in ex.output["hosts"]] == [
        ("demo-ssm", "succeeded", version),
        ("demo", "succeeded", version),
        ("demo-b", "succeeded", version),
    ]
    assert _nested(plane, ex.arn) == dict.fromkeys(FLEET, "SUCCEEDED")
    for host in FLEET:
        after = _state(plane, host)
        assert after["version"] == version and (after["running"] or {}).get("version") == version, host
        assert (column,) in after["columns"], f"{host}: the release's migration ran"
        assert after["deployments"] == before[host]["deployments"] + 1
        assert after["lock"] is None
    canary_end = _stop_date(plane, ex.arn, "demo-ssm")
    assert all(_start_date(plane, ex.arn, host) >= canary_end for host in ("demo", "demo-b")), "the canary first"
    assert any("fleet update succeeded" in str(n["Subject"]) for n in plane.notifications())


def test_a_failure_in_the_second_wave_stops_starting_new_ones(plane: LocalPlane) -> None:
    version = f"v1.{next(_minor)}.0"
    _publish(plane, version, broken=("demo",))
    untouched = _state(plane, "demo-b")

    ex = plane.run(
        "update-fleet",
        {"version": version, "targets": ["demo-ssm", "demo", "demo-b"], "max_concurrency": 1},
        timeout_s=600,
    )

    assert ex.status == "FAILED" and ex.error == "FleetUpdateFailed", ex.cause
    report = ex.state_output("Report")
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [
        ("demo-ssm", "succeeded"),
        ("demo", "rolled-back"),
        ("demo-b", "skipped"),
    ]
    assert report["hosts"][2]["cause"].startswith("not started: updates stopped: demo rolled-back (RolledBack")
    assert _nested(plane, ex.arn) == {"demo-ssm": "SUCCEEDED", "demo": "FAILED"}
    assert _state(plane, "demo-b") == untouched
    assert plane.host("demo-ssm").app_version() == version


def _described(plane: LocalPlane, fleet_arn: str, host: str) -> dict[str, Any]:
    fleet = fleet_arn.rsplit(":", 1)[-1]
    execution = next(e for e in plane.executions("update") if e["name"] == f"{fleet}-{host}")
    described: dict[str, Any] = plane.sfn.describe_execution(executionArn=execution["executionArn"])
    return described


def _start_date(plane: LocalPlane, fleet_arn: str, host: str) -> Any:
    return _described(plane, fleet_arn, host)["startDate"]


def _stop_date(plane: LocalPlane, fleet_arn: str, host: str) -> Any:
    return _described(plane, fleet_arn, host)["stopDate"]
