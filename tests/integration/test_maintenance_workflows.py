"""The maintenance workflows end to end on the local plane, per transport (SSH "demo", SSM "demo-ssm"), on one
plane: a verified pre-maintenance backup first, the change, verify-deployment.sh and health after; a failed
verification puts the old state back (the pool size, the secrets files and the database password, the instance type)
and verifies it again; a dry run lists the commands and changes nothing; a bad input is refused before anything
runs. Secrets: no old or new value in any execution history, task log, notification, the host's process list or a
shell history.

- os-update: the packages upgraded through the apt-get stand-in, a kernel's reboot (SSH: the workflow's reboot and a
  new boot id; SSM: the agent's exit 194), services back and verified, the packages in the notification; a host that
  never comes back keeps the lock, records host-lost (the alarm's metric) and says where it stopped.
- scale: the host's EC2 instance stopped (the host powers off), resized, started (it boots), verified, before and
  after in the notification; a type EC2 cannot start puts the old type back and verifies.

Planning and wording are unit tests (tests/unit/test_maintenance.py); the host side of os-update:
tests/integration/test_os_update_host.py; the EC2 adapter and checks: tests/unit/test_scale.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from opsctl.local import iam
from opsctl.local.execution import Execution
from opsctl.local.plane import LocalPlane
from tests.integration.conftest import update_plane

pytestmark = pytest.mark.integration

TRANSPORTS = {"ssh": "demo", "ssm": "demo-ssm"}


KERNEL = ("linux-image-amd64", "6.1.112-1", "6.1.119-1", True)
OPENSSL = ("openssl", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1", False)


def _set_maintenance(plane: LocalPlane, host: str, **changes: Any) -> None:
    settings = plane.target(host).maintenance.model_dump() | changes
    plane.update_target(host, maintenance=MaintenanceSettings.model_validate(settings).model_dump())


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    """Wait states take no time in the plane (moto_patches time_scale 0): the host-probe loop's tries
    (reboot_wait_s / 10 s) are what bounds a reboot here, each as long as a refused SSH connect or SSM probe takes.
    3600 s is 360 tries, about 7 s of probing at the 20 ms a try took in CI; the host is back after 0.5 s (90 tries
    against the default 2 s were once used up before it came back, when the handlers got faster)."""
    with update_plane() as local_plane:
        for host in local_plane.hosts():
            local_plane.host(host).reboot_delay_s = 0.5
            _set_maintenance(local_plane, host, verify_window_s=10, reboot_wait_s=3600)
        yield local_plane


def _env_value(plane: LocalPlane, host: str, key: str) -> str | None:
    text = (plane.host(host).app_dir / ".env.production").read_text(encoding="utf-8")
    values = [line.partition("=")[2] for line in text.splitlines() if line.startswith(f"{key}=")]
    return values[-1] if values else None


def _audit(host: str, execution_arn: str) -> Any:
    with iam.plane_calls():
        return next(e for e in runtime.audit_log().entries(host) if e.execution_arn == execution_arn)


def _run(plane: LocalPlane, workflow: str, request: dict[str, Any]) -> tuple[Execution, list[dict[str, Any]]]:
    seen = len(plane.notifications())
    ex = plane.run(workflow, request)
    plane.wait_ssm_idle()
    return ex, plane.notifications()[seen:]


def _pre_maintenance_backup(plane: LocalPlane, ex: Execution) -> dict[str, Any]:
    backup = (ex.output or {})["reports"]["backup"]
    manifest = plane.manifest(backup["manifest_key"])
    assert manifest["trigger"] == "pre-maintenance"
    # checksum and archive list checked before the change (the manifest's own verification is the test restore's)
    assert "BackupVerify" in [state.name for state in ex.states()]
    return dict(backup)


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_db_pool_changes_the_pool_after_a_verified_backup(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    before = _env_value(plane, host, "DB_POOL_SIZE")
    ex, notes = _run(plane, "db-pool", {"host": host, "size": 20, "reason": "more users"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert _env_value(plane, host, "DB_POOL_SIZE") == "20"
    assert (plane.host(host).app_dir / ".env.production").stat().st_mode & 0o777 == 0o600
    backup = _pre_maintenance_backup(plane, ex)
    assert plane.lock_item(host) is None
    assert _audit(host, ex.arn).status == "succeeded"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack db-pool on {host}: done"
    assert f"DB_POOL_SIZE: {before} -> 20" in note["Message"] and backup["backup_id"] in note["Message"]
    recreated = [c for c in plane.host(host).commands() if c[:4] == ["docker", "compose", "up", "-d"]]
    assert recreated[-1][-1] == "backend" and "--force-recreate" in recreated[-1]


def test_db_pool_that_breaks_the_app_is_put_back(plane: LocalPlane) -> None:
    """SSH; the same script and states run over SSM in the success test."""
    host = "demo"
    local = plane.host(host)
    before = _env_value(plane, host, "DB_POOL_SIZE")
    local.fail_health_while_changed(".env.production")
    try:
        ex, notes = _run(plane, "db-pool", {"host": host, "size": 90})
    finally:
        local.fail_health_while_changed()
    assert ex.status == "FAILED" and ex.error == "VerificationFailed", (ex.error, ex.cause)
    assert _env_value(plane, host, "DB_POOL_SIZE") == before
    assert set(local.services().values()) == {"running"}
    assert plane.lock_item(host) is None
    assert _audit(host, ex.arn).status == "reverted"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack db-pool on {host} FAILED: reverted"
    assert "Stopped at: Verify" in note["Message"] and "runs as before the maintenance" in note["Message"]


def test_db_pool_refuses_a_size_out_of_range_before_anything_runs(plane: LocalPlane) -> None:
    commands = len(plane.host("demo").commands())
    backups = len(plane.object_keys())
    ex, notes = _run(plane, "db-pool", {"host": "demo", "size": 5000})
    assert ex.status == "FAILED" and ex.error == "InvalidInput"
    assert "size: DB_POOL_SIZE must be within 2..100" in (ex.cause or "")
    assert len(plane.host("demo").commands()) == commands and len(plane.object_keys()) == backups
    assert "request rejected" in notes[0]["Subject"]


def test_a_dry_run_lists_the_commands_and_changes_nothing(plane: LocalPlane) -> None:
    host = "demo"
    commands = len(plane.host(host).commands())
    backups = len(plane.object_keys())
    secrets_before = _secret_files(plane, host)
    ex, notes = _run(plane, "rotate-secrets", {"host": host, "confirm": host, "dry_run": True})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert len(plane.host(host).commands()) == commands and len(plane.object_keys()) == backups
    assert _secret_files(plane, host) == secrets_before
    (note,) = notes
    assert note["Subject"] == f"FreshTrack rotate-secrets on {host}: dry run"
    assert "ALTER USER frostguard PASSWORD fed on psql's stdin" in note["Message"]
    assert _audit(host, ex.arn).status == "dry-run"


# -- rotate-secrets -------------------------------------------------------------------------------------------


def _secret_files(plane: LocalPlane, host: str) -> dict[str, str]:
    app = plane.host(host).app_dir
    return {name: (app / "secrets" / f"{name}.txt").read_text(encoding="utf-8").strip()
            for name in ("postgres_password", "jwt_secret")}  # fmt: skip


def _password_verifies(plane: LocalPlane, host: str, password: str) -> bool:
    """The role's SCRAM-SHA-256 verifier (pg_authid) accepts ``password`` (RFC 5802/7677 as PostgreSQL stores it:
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``)."""
    ((verifier,),) = plane.host(host).sql(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'frostguard'", db="postgres"
    )
    _, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


class ProcessWatch:
    """Every command line of every process on the machine, sampled while a workflow runs."""

    def __init__(self) -> None:
        self.lines: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    self.lines.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:  # the process ended
                    continue
            self._stop.wait(0.02)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _task_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the task functions logged (powertools' logger propagates): message and extra fields."""
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


def _leaks(
    plane: LocalPlane, host: str, ex: Execution, notes: list[dict[str, Any]], values: list[str], task_logs: str
) -> list[str]:
    """Where any of ``values`` shows up: the execution's history, the notifications, the task functions' logs
    (powertools' JSON lines on stdout), the host's logs and shell histories."""
    places = {
        "history": json.dumps(plane.history(ex.arn), default=str),
        "notifications": json.dumps(notes),
        "task logs": task_logs,
    }
    logs = plane.host(host).state_dir / "logs"
    places |= {f"log {p.name}": p.read_text(errors="replace") for p in logs.glob("*") if p.is_file()}
    for history in (Path.home() / ".bash_history", plane.host(host).root / ".bash_history"):
        if history.exists():
            places[str(history)] = history.read_text(errors="replace")
    return [place for place, text in places.items() for value in values if value in text]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_rotate_secrets_rotates_both_and_leaks_neither(
    plane: LocalPlane, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = TRANSPORTS[transport]
    old = _secret_files(plane, host)
    caplog.set_level(logging.INFO)
    with ProcessWatch() as watch:
        ex, notes = _run(plane, "rotate-secrets", {"host": host, "confirm": host})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    new = _secret_files(plane, host)
    assert all(new[name] != old[name] for name in old)
    assert _password_verifies(plane, host, new["postgres_password"])
    assert not _password_verifies(plane, host, old["postgres_password"])
    app = plane.host(host).app_dir
    assert all((app / "secrets" / f"{n}.txt").stat().st_mode & 0o777 == 0o600 for n in old)
    assert not (app / "secrets" / ".rotation-previous").exists()  # committed: the old values are gone
    assert set(plane.host(host).services().values()) == {"running"}
    _pre_maintenance_backup(plane, ex)
    logged = _task_logs(caplog)
    assert "rotate-secrets" in logged  # the task logs were captured
    assert _leaks(plane, host, ex, notes, [*old.values(), *new.values()], logged) == []
    # the DR copy of the app config was refreshed after the rotation (the plane's targets have a dr section)
    assert (ex.output or {})["reports"]["capture"] is not None
    assert [line for line in watch.lines for value in [*old.values(), *new.values()] if value in line] == []
    (note,) = notes
    assert "Rotated: postgres_password, jwt_secret (values never shown)" in note["Message"]


def test_a_rotation_that_fails_verification_puts_the_old_secrets_back(
    plane: LocalPlane, caplog: pytest.LogCaptureFixture
) -> None:
    """SSM; the rotation itself runs over both transports in the success test."""
    host = "demo-ssm"
    caplog.set_level(logging.INFO)
    local = plane.host(host)
    old = _secret_files(plane, host)
    local.fail_health_while_changed("secrets/jwt_secret.txt")
    try:
        ex, notes = _run(plane, "rotate-secrets", {"host": host, "confirm": host})
    finally:
        local.fail_health_while_changed()
    assert ex.status == "FAILED" and ex.error == "VerificationFailed", (ex.error, ex.cause)
    assert _secret_files(plane, host) == old
    assert _password_verifies(plane, host, old["postgres_password"])
    assert set(local.services().values()) == {"running"}
    assert not (local.app_dir / "secrets" / ".rotation-previous").exists()
    assert plane.lock_item(host) is None
    assert _audit(host, ex.arn).status == "reverted"
    assert _leaks(plane, host, ex, notes, list(old.values()), _task_logs(caplog)) == []
    (note,) = notes
    assert note["Subject"] == f"FreshTrack rotate-secrets on {host} FAILED: reverted"


def test_rotate_secrets_needs_the_typed_confirmation(plane: LocalPlane) -> None:
    ex, _ = _run(plane, "rotate-secrets", {"host": "demo"})
    assert ex.status == "FAILED" and ex.error == "InvalidInput"
    assert "confirm: rotating the secrets restarts every service: type the target id 'demo' (got missing)" in (
        ex.cause or ""
    )


# -- os-update and scale ------------------------------------------------------------------------------------------


def _instance(plane: LocalPlane, host: str) -> dict[str, Any]:
    reservations = plane.client("ec2").describe_instances(InstanceIds=[plane.ec2_instance_id(host)])["Reservations"]
    instance: dict[str, Any] = reservations[0]["Instances"][0]
    return instance


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_an_os_update_upgrades_reboots_and_verifies(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    local.set_os_updates([KERNEL, OPENSSL])
    boot_before = local.boot_id()
    ex, notes = _run(plane, "os-update", {"host": host, "reason": "December patches"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.installed_packages() == {"linux-image-amd64": "6.1.119-1", "openssl": "3.0.15-1~deb12u1"}
    assert local.boot_id() != boot_before and not local.reboot_required_file.exists()
    assert set(local.services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "succeeded"
    backup = plane.manifest((ex.output or {})["reports"]["backup"]["manifest_key"])
    assert backup["trigger"] == "pre-maintenance"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack os-update on {host}: done"
    assert "Upgraded 2 package(s):" in note["Message"] and "linux-image-amd64 6.1.112-1 -> 6.1.119-1" in note["Message"]
    assert "Reboot required: yes; rebooted: yes" in note["Message"]


def test_an_os_update_with_nothing_to_reboot_for_does_not_reboot(plane: LocalPlane) -> None:
    local = plane.host("demo")
    local.set_os_updates([("curl", "7.88.1-10+deb12u7", "7.88.1-10+deb12u8", False)])
    boot_before = local.boot_id()
    ex, notes = _run(plane, "os-update", {"host": "demo"})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.boot_id() == boot_before
    assert "Reboot required: no; rebooted: no" in notes[0]["Message"]


def test_a_host_that_does_not_come_back_keeps_the_lock_and_says_where(plane: LocalPlane) -> None:
    host = "demo"
    local = plane.host(host)
    local.set_os_updates([("linux-image-amd64", "6.1.119-1", "6.1.123-1", True)])
    local.set_reboot_fault(never_returns=True)
    _set_maintenance(plane, host, reboot_wait_s=30)  # three tries
    try:
        ex, notes = _run(plane, "os-update", {"host": host})
        assert ex.status == "FAILED" and ex.error == "HostNotBack", (ex.error, ex.cause)
        assert plane.lock_item(host) is not None  # kept: nothing else may touch the host
        assert _audit(host, ex.arn).status == "host-lost"
        (note,) = notes
        assert note["Subject"] == f"FreshTrack os-update on {host}: HOST NOT BACK"
        assert "Stopped at: RebootedLost" in note["Message"] and "did not answer again" in note["Message"]
        assert "Pre-maintenance backup:" in note["Message"]
    finally:
        _set_maintenance(plane, host, reboot_wait_s=3600)
        local.set_reboot_fault(never_returns=False)
        local.power_on()
        with iam.plane_calls():
            runtime.lock_table().release(host, ex.arn)
    assert plane.lock_item(host) is None


def test_an_os_update_dry_run_lists_the_commands_and_installs_nothing(plane: LocalPlane) -> None:
    local = plane.host("demo-ssm")
    local.set_os_updates([("openssl", "3.0.14-1~deb12u2", "3.0.16-1~deb12u1", False)])
    before = local.installed_packages()
    ex, notes = _run(plane, "os-update", {"host": "demo-ssm", "dry_run": True})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    assert local.installed_packages() == before
    assert "reboot through the SSM Agent (exit 194)" in notes[0]["Message"]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_scale_resizes_the_instance_and_verifies(plane: LocalPlane, transport: str) -> None:
    host = TRANSPORTS[transport]
    local = plane.host(host)
    before = _instance(plane, host)["InstanceType"]
    wanted = "t3.large" if before != "t3.large" else "t3.xlarge"
    boot_before = local.boot_id()
    ex, notes = _run(plane, "scale", {"host": host, "instance_type": wanted, "confirm": host})
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    instance = _instance(plane, host)
    assert (instance["InstanceType"], instance["State"]["Name"]) == (wanted, "running")
    assert local.boot_id() != boot_before and set(local.services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "succeeded"
    (note,) = notes
    assert f"Instance type: {before} -> {wanted}" in note["Message"]
    assert "CPU(s)" in note["Message"] and "MB memory" in note["Message"]


def test_a_type_ec2_cannot_start_puts_the_old_type_back(plane: LocalPlane) -> None:
    host = "demo-ssm"
    before = _instance(plane, host)["InstanceType"]
    wanted = "t3.xlarge" if before != "t3.xlarge" else "t3.large"
    plane.set_ec2_capacity_fault(wanted)
    try:
        ex, notes = _run(plane, "scale", {"host": host, "instance_type": wanted, "confirm": host})
    finally:
        plane.set_ec2_capacity_fault(None)
    assert ex.status == "FAILED" and ex.error == "InstanceCapacityUnavailable", (ex.error, ex.cause)
    instance = _instance(plane, host)
    assert (instance["InstanceType"], instance["State"]["Name"]) == (before, "running")
    assert set(plane.host(host).services().values()) == {"running"}
    assert plane.lock_item(host) is None and _audit(host, ex.arn).status == "reverted"
    (note,) = notes
    assert note["Subject"] == f"FreshTrack scale on {host} FAILED: reverted"
    assert "Stopped at: StartInstance" in note["Message"]


def test_a_type_not_allowed_is_refused_before_anything_runs(plane: LocalPlane) -> None:
    before = _instance(plane, "demo")
    ex, _ = _run(plane, "scale", {"host": "demo", "instance_type": "m5.24xlarge", "confirm": "demo"})
    assert ex.status == "FAILED" and ex.error == "InvalidInput"
    assert "instance_type: not allowed for target 'demo'" in (ex.cause or "")
    assert _instance(plane, "demo")["State"] == before["State"]
