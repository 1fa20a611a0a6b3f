"""Faults injected into backups (docs/reliability.md): each case asserts every invariant and records its row."""

from __future__ import annotations

from opsctl.local import faults
from opsctl.local.plane import LocalPlane
from tests.faults import invariants, matrix


def test_ssh_dropped_mid_stream(plane: LocalPlane) -> None:
    before = invariants.snapshot(plane, "demo")
    plane.host("demo").set_fault("pg_dump", {"drop_connection_after_bytes": 40_000})
    try:
        ex = plane.run("backup", {"host": "demo", "reason": "fault matrix"})
    finally:
        plane.host("demo").set_fault("pg_dump", None)
    held = invariants.check(plane, before, ex, end="FAILED HostConnectionLost", notification="FAILED")
    assert invariants.history_errors(ex).count("HostConnectionLost") == 3, "the stream is tried three times"
    matrix.record(
        "test_ssh_dropped_mid_stream", fault="SSH connection dropped after 40 kB of the dump (every attempt)",
        workflow="backup", state="StreamDump", transport="ssh", end_state="FAILED HostConnectionLost after 3 attempts",
        invariants=held,
    )  # fmt: skip


def test_s3_throttles_the_manifest_write(plane: LocalPlane, host_name: str) -> None:
    before = invariants.snapshot(plane, host_name)
    slow = faults.ApiFault("s3", "PutObject", "SlowDown", times=2, matches=lambda r: "manifest" in r.url)
    with faults.armed(slow):
        ex = plane.run("backup", {"host": host_name, "reason": "fault matrix"})
    output = ex.output or {}
    held = invariants.check(
        plane, before, ex, end="SUCCEEDED",
        new_objects=lambda key: key in (output.get("dump_key"), output.get("manifest_key")),
        notification="succeeded",
    )  # fmt: skip
    assert slow.hits == 2
    matrix.record(
        "test_s3_throttles_the_manifest_write", fault="S3 503 SlowDown twice on the manifest's PutObject",
        workflow="backup", state="WriteManifest", transport=matrix.transport_of(host_name),
        end_state="SUCCEEDED (the SDK retried)", invariants=held,
    )  # fmt: skip
