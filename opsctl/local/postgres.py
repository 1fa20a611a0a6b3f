"""A throwaway PostgreSQL cluster for the local FreshTrack host.

The cluster lives in a short directory under the system temp dir (not under the host root): when running
as root the server runs as OS user ``postgres``, which usually cannot traverse pytest's 0700 tmp dirs, and
unix socket paths are limited to 107 bytes. Authentication is ``trust`` on the socket and 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PG_OS_USER = "postgres"


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started or stopped."""


def find_bindir() -> Path:
    """The PostgreSQL server bin dir: ``pg_config --bindir`` if it has initdb, else the newest Debian one."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout
            candidate = Path(out.strip())
            if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
                return candidate
        except (OSError, subprocess.CalledProcessError):
            pass
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not found:
        raise PostgresError("no PostgreSQL server found (pg_config --bindir, /usr/lib/postgresql/*/bin)")

    def version(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return 0.0

    return max(found, key=version)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_as_prefix() -> list[str]:
    """argv prefix that runs a command as the postgres OS user (empty unless we are root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", PG_OS_USER, "--"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in {"Z", "X"}


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """Wait until process ``pid`` has exited (zombies count as exited); False on timeout."""
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


_templates: dict[Path, Path] = {}
_templates_lock = threading.Lock()


def _template_datadir(bindir: Path, run_as: list[str]) -> Path:
    """A data directory ``initdb`` made once per process and bin dir (removed at exit), for clusters to copy.
    Every copy shares its system identifier, which only physical replication would notice (none here)."""
    with _templates_lock:
        found = _templates.get(bindir)
        if found is None:
            base = Path(tempfile.mkdtemp(prefix="ftpg-template-"))
            base.chmod(0o755)
            if run_as:
                pw = pwd.getpwnam(PG_OS_USER)
                os.chown(base, pw.pw_uid, pw.pw_gid)
            atexit.register(shutil.rmtree, base, True)
            initdb = [
                str(bindir / "initdb"),
                "-D", str(base / "data"),
                "-U", PG_OS_USER,
                "-A", "trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]  # fmt: skip
            proc = subprocess.run(
                [*run_as, *initdb], cwd=base, capture_output=True, text=True, timeout=120, check=False
            )
            if proc.returncode != 0:
                raise PostgresError(f"initdb failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
            found = _templates[bindir] = base / "data"
        return found


class PostgresCluster:
    """initdb + pg_ctl start/stop of a private cluster; ``bindir`` holds its own pg_dump/pg_restore/psql."""

    def __init__(self, base: Path | None = None, bindir: Path | None = None) -> None:
        self.bindir: Path = bindir or find_bindir()
        self._owns_base = base is None
        self.base: Path = base or Path(tempfile.mkdtemp(prefix="ftpg-"))
        self.datadir: Path = self.base / "data"
        self.socket_dir: Path = self.base / "sock"
        self.logfile: Path = self.base / "postgres.log"
        self.port: int = 0
        self.run_as: list[str] = run_as_prefix()

    # -- helpers -------------------------------------------------------------------------------------
    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.run_as, *argv],
            cwd=self.base,  # the postgres user must be able to stat its cwd
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PostgresError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
        return proc

    def _chown(self, *paths: Path) -> None:
        if not self.run_as:
            return
        pw = pwd.getpwnam(PG_OS_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    # -- lifecycle -----------------------------------------------------------------------------------
    def init(self) -> None:
        """A copy of initdb's cluster (trust auth), then listen/port/socket settings into postgresql.conf."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self.socket_dir.mkdir(exist_ok=True)
        self.socket_dir.chmod(0o755)
        self.logfile.touch()
        self._chown(self.base, self.socket_dir, self.logfile)
        # a copy of this process's one initdb output: initdb was 1.3-1.6 s of a host's 2.4 s start, a copy ~0.1 s
        self._run(["cp", "-a", str(_template_datadir(self.bindir, self.run_as)), str(self.datadir)])
        self.port = free_port()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            # A throwaway cluster: durability is not needed, speed is.
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "100",
            "logging_collector": "off",
        }
        conf = self.datadir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# opsctl local host\n")
            for key, value in settings.items():
                fh.write(f"{key} = {value}\n")

    def start(self) -> None:
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "start",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
            ]
        )

    def stop(self) -> None:
        if not self.datadir.exists() or not self.is_running():
            return
        pid = self.postmaster_pid()
        self._run([str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60"])
        if pid is not None:  # pg_ctl returns when postmaster.pid is gone, a moment before the process exits
            wait_gone(pid)

    def is_running(self) -> bool:
        if not (self.datadir / "postmaster.pid").exists():
            return False
        proc = self._run([str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)], check=False)
        return proc.returncode == 0

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self) -> None:
        """Stop (if needed) and delete the cluster's files."""
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            self.stop()
        pid = self.postmaster_pid()
        if pid is not None and _alive(pid):  # pg_ctl could not stop it: do not leave a server behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 9)
            wait_gone(pid)
        if self._owns_base:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- client side ---------------------------------------------------------------------------------
    def conninfo(self, user: str = PG_OS_USER, dbname: str = "postgres") -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect``."""
        return {"host": str(self.socket_dir), "port": self.port, "user": user, "dbname": dbname}

    def client_env(self) -> dict[str, str]:
        """PG* environment for this cluster's client tools."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port)}

    def describe(self) -> dict[str, Any]:
        """What the docker shim needs to start/stop/exec into this cluster (written to the state dir)."""
        return {
            "bindir": str(self.bindir),
            "datadir": str(self.datadir),
            "base": str(self.base),
            "socket_dir": str(self.socket_dir),
            "port": self.port,
            "logfile": str(self.logfile),
            "run_as": self.run_as,
        }
