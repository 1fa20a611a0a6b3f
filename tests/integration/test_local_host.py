"""The local FreshTrack host: real PostgreSQL, the docker shim, the health endpoint and a real sshd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from opsctl.local import sshd
from opsctl.local.app_repo import DEPLOY_SH, POST_DEPLOY_SH, VERIFY_SH
from opsctl.local.host import LocalHost
from opsctl.local.postgres import wait_gone
from opsctl.local.seed import estimate_readings_for_mb, sizes_for
from tests.integration.conftest import hold

pytestmark = pytest.mark.integration

READINGS = 20_000
needs_sshd = pytest.mark.skipif(not sshd.available() or shutil.which("ssh") is None, reason="no OpenSSH")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with LocalHost(tmp_path_factory.mktemp("host"), readings=READINGS) as h:
        yield h


@pytest.fixture
def known_hosts(host: LocalHost, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(f"[127.0.0.1]:{host.ssh_port} {host.ssh_host_public_key}\n")
    return path


def docker(host: LocalHost, *args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(host.docker_bin), *args], check=False, capture_output=True, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


def git(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(app), *args], check=False, capture_output=True, text=True)


def ssh(host: LocalHost, known_hosts: Path, command: str) -> subprocess.CompletedProcess[bytes]:
    key = host.root / "client_key"
    if not key.exists():
        key.write_text(host.ssh_private_key)
        key.chmod(0o600)
    argv = [
        "ssh", "-i", str(key), "-p", str(host.ssh_port),
        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
        f"{host.ssh_user}@127.0.0.1", command,
    ]  # fmt: skip
    return subprocess.run(argv, check=False, capture_output=True, timeout=60)


def health(host: LocalHost) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(host.health_url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def ps_json(host: LocalHost) -> dict[str, dict[str, object]]:
    out = docker(host, "compose", "ps", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    return {row["Service"]: row for row in rows}


def full_dump(host: LocalHost, target: Path) -> int:
    with target.open("wb") as fh:
        proc = subprocess.run(
            [str(host.docker_bin), "compose", "exec", "-T", "postgres", "pg_dump", "-U", "frostguard", "-Fc",
             "frostguard"],
            stdout=fh, stderr=subprocess.PIPE, timeout=60, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return target.stat().st_size


def test_seeded_tables(host: LocalHost) -> None:
    counts = host.table_counts()
    sizes = sizes_for(READINGS)
    assert counts == {
        "alert_rules": sizes.alert_rules,
        "alerts": sizes.alerts,
        "audit_log": sizes.audit_log,
        "organizations": sizes.organizations,
        "schema_migrations": 2,  # v1.1.0's and v1.2.0's migrations, as their deployments recorded them
        "sensors": sizes.sensors,
        "sites": sizes.sites,
        "temperature_readings": READINGS,
        "users": sizes.users,
    }
    owners = host.sql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [("frostguard",)]
    assert host.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", ["frostguard"]) == [
        ("frostguard",)
    ]
    indexes = host.sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'temperature_readings'")
    assert any("(sensor_id, recorded_at)" in row[0] for row in indexes)
    # deterministic content
    first = host.sql("SELECT sensor_id, recorded_at::text, temperature_c::text FROM temperature_readings WHERE id = 1")
    assert first == [(1, "2026-01-01 00:00:00+00", "4.22")]
    assert 8_000_000 < estimate_readings_for_mb(1024) < 9_000_000


def test_app_repo(host: LocalHost) -> None:
    app = host.app_dir
    describe = git(app, "describe", "--tags")
    assert describe.stdout.strip() == "v1.2.0"
    tags = git(app, "tag", "-l").stdout.split()
    assert tags == ["v1.1.0", "v1.2.0"]
    status = git(app, "status", "--porcelain")
    assert status.stdout == ""  # secrets, .env.production and .deploy-state are ignored
    assert (app / ".env.production").stat().st_mode & 0o777 == 0o600
    assert "DB_POOL_SIZE=10" in (app / ".env.production").read_text()
    assert (app / "secrets").stat().st_mode & 0o777 == 0o700
    assert (app / "secrets" / "jwt_secret.txt").stat().st_mode & 0o777 == 0o600
    for script in ("deploy-automated.sh", "verify-deployment.sh", "post-deploy.sh"):
        assert os.access(app / "scripts" / script, os.X_OK)
    fetch = git(app, "fetch", "--tags", "origin")
    assert fetch.returncode == 0, fetch.stderr


def test_scripts_are_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck not installed")
    files = []
    for name, text in (("deploy.sh", DEPLOY_SH), ("verify.sh", VERIFY_SH), ("post.sh", POST_DEPLOY_SH)):
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    result = subprocess.run([shellcheck, *files], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_pg_dump_through_shim_is_restorable(host: LocalHost, tmp_path: Path) -> None:
    dump = tmp_path / "backup.dump"
    assert full_dump(host, dump) > 10_000
    listing = subprocess.run(
        [str(host.pg_bindir / "pg_restore"), "--list", str(dump)], check=False, capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert "TABLE DATA public temperature_readings" in listing.stdout
    # the manual's test-restore: into a scratch database through the shim, as -U postgres / -U frostguard
    create = docker(host, "compose", "exec", "-T", "postgres", "psql", "-U", "postgres", "-c",
                    "CREATE DATABASE frostguard_test OWNER frostguard;")  # fmt: skip
    assert create.returncode == 0, create.stderr
    try:
        with dump.open("rb") as fh:
            restore = docker(host, "compose", "exec", "-T", "postgres", "pg_restore", "-U", "frostguard",
                             "-d", "frostguard_test", stdin=fh)  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        assert host.table_counts("frostguard_test") == host.table_counts()
    finally:
        host.sql("DROP DATABASE IF EXISTS frostguard_test WITH (FORCE)", db="postgres")
    assert ["docker", "compose", "exec", "-T", "postgres", "pg_dump", "-U", "frostguard", "-Fc", "frostguard"] in (
        host.commands()
    )


def test_stop_start_services_and_health(host: LocalHost) -> None:
    assert health(host) == (200, {"status": "ok", "version": "1.2.0"})
    env = {**os.environ, **host.env()}
    verify = [str(host.app_dir / "scripts" / "verify-deployment.sh"), "freshtrack.local"]
    assert subprocess.run(verify, env=env, check=False, capture_output=True).returncode == 0
    assert docker(host, "compose", "stop", "backend", "worker").returncode == 0
    try:
        rows = ps_json(host)
        assert rows["backend"]["State"] == "exited" and rows["worker"]["State"] == "exited"
        assert rows["postgres"]["State"] == "running"
        assert host.services()["backend"] == "exited"
        code, body = health(host)
        assert code == 503 and "backend" in str(body["reason"])
        failed = subprocess.run(verify, env=env, check=False, capture_output=True, text=True)
        assert failed.returncode != 0 and "backend is not running" in failed.stderr
    finally:
        assert docker(host, "compose", "start", "backend", "worker").returncode == 0
    assert health(host)[0] == 200
    assert all(row["State"] == "running" for row in ps_json(host).values())
    logs = docker(host, "compose", "logs", "--tail", "5", "backend").stdout.decode()
    assert "backend-1  | Received SIGTERM" in logs or "backend-1  | Server stopped" in logs


def test_postgres_stop_is_real(host: LocalHost) -> None:
    assert docker(host, "compose", "stop", "postgres").returncode == 0
    try:
        with pytest.raises(psycopg.OperationalError):
            host.sql("SELECT 1")
        refused = docker(host, "compose", "exec", "-T", "postgres", "pg_isready")
        assert refused.returncode == 1
        assert b'service "postgres" is not running' in refused.stderr
        assert health(host)[0] == 503
    finally:
        assert docker(host, "compose", "start", "postgres").returncode == 0
    assert docker(host, "compose", "exec", "-T", "postgres", "pg_isready").returncode == 0
    assert host.sql("SELECT 1") == [(1,)]
    assert health(host)[0] == 200


def test_pg_restore_fault_touches_nothing(host: LocalHost) -> None:
    host.set_fault("pg_restore", {"fail": True})
    try:
        out = docker(host, "compose", "exec", "-T", "postgres", "pg_restore", "-U", "frostguard", "-d",
                     "frostguard", input=b"garbage")  # fmt: skip
        assert out.returncode == 1 and b"pg_restore" in out.stderr
    finally:
        host.set_fault("pg_restore", None)
    assert not (host.state_dir / "faults.json").exists()
    assert host.table_counts()["temperature_readings"] == READINGS


def test_system_prune_and_stats_are_recorded(host: LocalHost) -> None:
    assert docker(host, "system", "prune", "-af").returncode == 0
    pruned = len(host.shim_state()["prunes"])
    for volumes in ("--volumes", "--volumes=true"):
        refused = docker(host, "system", "prune", "-af", volumes)
        assert refused.returncode == 1 and b"REFUSED" in refused.stderr and b"Nothing was pruned" in refused.stderr
        assert b"Total reclaimed space" not in refused.stdout
    prunes = host.shim_state()["prunes"]
    assert len(prunes) == pruned and not any(p["volumes"] for p in prunes)
    stats = docker(host, "stats", "--no-stream").stdout.decode()
    assert "CPU %" in stats and "MEM USAGE / LIMIT" in stats and "freshtrack-pro-backend-1" in stats
    assert docker(host, "stats", "--no-stream").stdout.decode() == stats  # deterministic
    assert b"TYPE" in docker(host, "system", "df").stdout
    assert ["docker", "system", "prune", "-af", "--volumes"] in host.commands()


def test_a_memory_fault_lasts_until_the_service_restarts(host: LocalHost) -> None:
    def mem_percent() -> dict[str, str]:
        lines = docker(host, "stats", "--no-stream", "--format", "json").stdout.decode().splitlines()
        return {row["Name"]: row["MemPerc"] for row in map(json.loads, lines)}

    assert mem_percent()["freshtrack-pro-backend-1"] == "31.00%"
    host.set_memory_fault("backend", 96.0)
    assert mem_percent()["freshtrack-pro-backend-1"] == "96.00%"
    assert mem_percent()["freshtrack-pro-worker-1"] == "22.00%"
    assert docker(host, "compose", "restart", "worker").returncode == 0
    assert mem_percent()["freshtrack-pro-backend-1"] == "96.00%", "another service's restart leaves it"
    assert docker(host, "compose", "restart", "backend").returncode == 0
    assert mem_percent()["freshtrack-pro-backend-1"] == "31.00%"
    assert not (host.state_dir / "faults.json").exists()


@needs_sshd
def test_ssh_with_pinned_host_key(host: LocalHost, known_hosts: Path) -> None:
    out = ssh(host, known_hosts, f"git -C {host.app_dir} describe --tags")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == "v1.2.0"
    # the docker shim is on the session PATH
    ps = ssh(host, known_hosts, "docker compose ps --format json")
    assert ps.returncode == 0 and b'"Service":"postgres"' in ps.stdout
    # a wrong pinned key is refused
    bad = known_hosts.with_name("bad_known_hosts")
    other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIJy0CPRGQXKxJ9vwuUvlXyaFuFyLCl5rY0CRjhoxZ8hw"
    bad.write_text(f"[127.0.0.1]:{host.ssh_port} ssh-ed25519 {other_key}\n")
    assert ssh(host, bad, "true").returncode == 255


@needs_sshd
def test_pg_dump_fault_drops_ssh_connection(host: LocalHost, known_hosts: Path, tmp_path: Path) -> None:
    full = full_dump(host, tmp_path / "full.dump")
    limit = 16_384
    assert full > limit * 2
    host.set_fault("pg_dump", {"drop_connection_after_bytes": limit})
    try:
        out = ssh(host, known_hosts, "docker compose exec -T postgres pg_dump -U frostguard -Fc frostguard")
    finally:
        host.set_fault("pg_dump", None)
    assert out.returncode == 255
    assert len(out.stdout) <= limit < full
    # the listener survived: new sessions work, and sshd restarts on the same port with the same key
    assert ssh(host, known_hosts, "true").returncode == 0
    port = host.ssh_port
    host.stop_sshd()
    assert ssh(host, known_hosts, "true").returncode == 255
    host.start_sshd()
    assert host.ssh_port == port
    assert ssh(host, known_hosts, "true").returncode == 0


def test_pg_dump_fault_without_ssh_exits_255(host: LocalHost) -> None:
    host.set_fault("pg_dump", {"drop_connection_after_bytes": 1000})
    try:
        out = docker(host, "compose", "exec", "-T", "postgres", "pg_dump", "-U", "frostguard", "-Fc", "frostguard")
    finally:
        host.set_fault("pg_dump", None)
    assert out.returncode == 255 and len(out.stdout) == 1000


def test_a_held_command_waits_for_its_release_then_runs(host: LocalHost) -> None:
    """The ``wait_for`` fault: the command reaches the gate (marker), waits, runs for real once released; a gate
    never released ends it with 124 instead of hanging."""
    argv = [str(host.docker_bin), "compose", "exec", "-T", "postgres", "psql", "-U", "frostguard", "-tAc", "select 1"]
    with hold(host, "psql") as gate:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        gate.wait_held()
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # held: not run yet
        gate.release()
        out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out.strip()) == (0, b"1")
    assert gate.held() == 1

    host.set_fault("psql", {"wait_for": str(host.state_dir / "never-created"), "timeout_s": 0.3})
    try:
        forgotten = docker(host, *argv[1:])
    finally:
        host.set_fault("psql", None)
    assert forgotten.returncode == 124 and b"never appeared" in forgotten.stderr


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_stop_leaves_no_processes(tmp_path: Path) -> None:
    h = LocalHost(tmp_path / "h2", readings=100).start()
    postmaster = h._cluster().postmaster_pid()
    datadir = h.pg_datadir
    assert postmaster is not None and Path(f"/proc/{postmaster}").exists()
    sshd_pid = int((h.state_dir / "sshd.pid").read_text()) if h.ssh_port else None
    h.stop()
    h.stop()  # idempotent
    assert wait_gone(postmaster, timeout=0.5)
    if sshd_pid is not None:
        assert wait_gone(sshd_pid, timeout=0.5)
    assert _pids_mentioning(str(tmp_path / "h2")) == []
    assert not datadir.exists()
