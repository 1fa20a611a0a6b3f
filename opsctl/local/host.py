"""The local FreshTrack host: PostgreSQL + seeded DB, app repo, docker shim, health endpoint, optional sshd."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql as pgsql

from opsctl.local import app_repo, logs_seed, sshd, stand_ins
from opsctl.local.docker_shim import PROGRAM as DOCKER_SHIM
from opsctl.local.docker_shim import faults
from opsctl.local.docker_shim.state import BUILT_SERVICES, DEFAULT_SERVICES, START_LINES, ShimState
from opsctl.local.health import HealthServer
from opsctl.local.monitoring import backend_control
from opsctl.local.postgres import PostgresCluster
from opsctl.local.seed import DB_NAME as SEED_DB
from opsctl.local.seed import ROLE_NAME as SEED_ROLE
from opsctl.local.seed import create_empty_database, seed
from opsctl.local.stand_ins import apt_check, apt_get, df, fail2ban, power, ufw

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT = "freshtrack-pro"
INITIAL_LOGS: dict[str, list[str]] = {
    "backend": ["GET /api/health 200 2ms", "GET /api/sensors 200 41ms", "POST /api/readings 201 12ms"],
    "caddy": [
        '{"level":"info","msg":"handled request","request":{"uri":"/api/sensors"},"status":200}',
        '{"level":"info","msg":"handled request","request":{"uri":"/favicon.ico"},"status":404}',
    ],
    "worker": ["job alert-evaluation completed in 182ms"],
    "postgres": ["checkpoint complete: wrote 112 buffers"],
    "redis": ["DB saved on disk"],
}


class LocalHost:
    """A throwaway FreshTrack host under ``root``; see the package docs for what it runs."""

    def __init__(
        self,
        root: Path,
        name: str = "demo",
        *,
        readings: int = 20_000,
        use_sshd: bool = True,
        blank: bool = False,
        authorized_public_key: str | None = None,
        realistic_logs: bool = False,
    ) -> None:
        """``blank``: a new server before its bootstrap (what the local plane's RunInstances creates): its
        PostgreSQL holds only what the compose's postgres service creates at its first start (role and empty
        database ``frostguard``: the manual's restore then recreates the database OWNER that role), the app
        directory exists but is empty (nothing cloned, no ``.env.production``, no ``secrets/``), and only the
        postgres container runs. ``authorized_public_key``: the key sshd accepts (an EC2 key pair's), instead of
        a generated client key. ``realistic_logs``: seed a day of backend and Caddy logs at start
        (``seed_realistic_logs``: errors, slow requests, authentication failures, ... for the daily report to show);
        without it the services' logs hold their start lines only."""
        self.root = Path(root).resolve()
        self.name = name
        self.readings = readings
        self.use_sshd = use_sshd
        self.blank = blank
        self.authorized_public_key = authorized_public_key
        self.realistic_logs = realistic_logs
        #: ``/var/run/reboot-required`` of this host (the daily check reads it through FTOPS_REBOOT_REQUIRED_FILE)
        self.reboot_required_file = self.root / "var" / "run" / "reboot-required"
        #: ``/proc/sys/kernel/random/boot_id`` of this host, a new one at every power-on (host scripts read it
        #: through FTOPS_BOOT_ID_FILE; its mtime is the boot time)
        self.boot_id_file = self.root / "proc" / "sys" / "kernel" / "random" / "boot_id"
        #: how long a reboot keeps the host down (power off to power on). Short, because the plane's Wait states take
        #: no time (time_scale 0): what bounds a reboot is the os-update's probe tries (reboot_wait_s / 10 s: 90 by
        #: default), each as long as a refused connect takes, about 15 ms. 2 s was once more than 90 tries lasted
        #: (make demo's os-update ended HostNotBack on 2026-12-01); 0.5 s leaves them more than twice that.
        self.reboot_delay_s = 0.5
        #: told True/False when the host powers on/off (the plane takes the host's SSM agents online/offline)
        self.on_power: Callable[[bool], None] | None = None
        self._powered = True
        self._never_returns = False
        self._was_running: list[str] = []
        self._power_lock = threading.RLock()
        self._stopping = threading.Event()
        self._power_threads: list[threading.Thread] = []
        #: what went wrong in a power thread (a reboot the watcher or ``reboot`` ran in the background)
        self.power_errors: list[str] = []
        self.state_dir = self.root / "state"
        #: HOME of the sshd sessions (see ``_start``)
        self.session_home = self.root / "home"
        self.bin_dir = self.root / "bin"
        self.docker_bin = self.bin_dir / "docker"
        self.app_dir = self.root / "opt" / PROJECT
        self.services_list: tuple[str, ...] = DEFAULT_SERVICES
        self.ssh_user = getpass.getuser()
        self._pg: PostgresCluster | None = None
        self._health: HealthServer | None = None
        self._sshd: sshd.SshServer | None = None
        self.start_seconds = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalHost:
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        for d in (self.root, self.state_dir, self.state_dir / "logs", self.bin_dir, self.session_home):
            d.mkdir(parents=True, exist_ok=True)
        self._pg = PostgresCluster()
        self._pg.init()
        link = self.root / "pg"  # the cluster lives in a short /tmp dir (socket path limit, postgres user access)
        link.unlink(missing_ok=True)
        link.symlink_to(self._pg.base, target_is_directory=True)
        self._pg.start()
        if self.blank:
            create_empty_database(self._pg.conninfo())
            self.app_dir.mkdir(parents=True, exist_ok=True)
        else:
            seed(self._pg.conninfo(), self.readings)
            app_repo.create_app_repo(self.root)
            app_repo.record_initial_migrations(self.app_dir, self._pg.conninfo(), db=SEED_DB, role=SEED_ROLE)
        host_json = {
            "name": self.name,
            "project": PROJECT,
            "app_dir": str(self.app_dir),
            "services": list(self.services_list),
            "pg": self._pg.describe(),
        }
        (self.state_dir / "host.json").write_text(json.dumps(host_json, indent=1), encoding="utf-8")
        if self.blank:
            self._write_blank_shim_state()
        else:
            self._write_running_shim_state()
        self.docker_bin.write_text(
            "#!/usr/bin/env bash\n"
            "# docker CLI stand-in of the opsctl local host (tests and local plane only)\n"
            f"{stand_ins.python_exec(DOCKER_SHIM)} "
            f'--state {shlex.quote(str(self.state_dir))} "$@"\n',
            encoding="utf-8",
        )
        self.docker_bin.chmod(0o755)
        # the host's own commands the daily check and the service workflow run (stand_ins: they cannot run here)
        for tool in ("fail2ban-client", "ufw", "apt-check", "apt-get", *power.TOOLS):
            stand_ins.write_wrapper(self.bin_dir, tool, self.state_dir)
        if os.geteuid() != 0:
            # the host scripts run apt-get and the reboot as root through `sudo -n`; this host's "root" is the user
            # running it, so its sudo runs the command as it is (on its PATH only, like every stand-in)
            sudo = self.bin_dir / "sudo"
            sudo.write_text(
                "#!/usr/bin/env bash\n# sudo of the opsctl local host: runs the command as this user\n"
                'while [[ "${1:-}" == -* ]]; do shift; done\nexec "$@"\n',
                encoding="utf-8",
            )
            sudo.chmod(0o755)
        self._write_boot_id()
        df.write_df_wrapper(self.bin_dir, self.state_dir, shutil.which("df", path=DEFAULT_PATH) or "/bin/df")
        self.reboot_required_file.parent.mkdir(parents=True, exist_ok=True)
        if self.realistic_logs and not self.blank:
            self.seed_realistic_logs()
        self._health = HealthServer(self.state_dir, self._pg.conninfo())
        self._health.start()
        if not self.blank:  # a blank host's app directory stays empty: the bootstrap clones into it (its sessions
            # and SSM commands have DOCKER and HEALTH_URL in their environment: ``env``)
            # where the app's scripts find the shim and the health endpoint without our environment (see app_repo)
            (self.app_dir / app_repo.LOCAL_PLANE_ENV).write_text(
                f"DOCKER={self.docker_bin}\nHEALTH_URL={self.health_url}\n", encoding="utf-8"
            )
        if self.use_sshd and sshd.available():
            self._sshd = sshd.SshServer(
                self.root,
                user=self.ssh_user,
                pid_file=self.state_dir / "sshd.pid",
                # HOME: the sessions' own (empty) home. bash reads ~/.bashrc when sshd starts it, even for a command;
                # the machine user's .bashrc may run anything there (root's here runs `pyenv rehash`, and a session
                # cut off while it runs leaves pyenv's lock behind: every later login on the machine then waits
                # 60 s for it). A host's scripts never depend on the login user's dotfiles.
                session_env=self.env(base_path=DEFAULT_PATH) | {"HOME": str(self.session_home)},
                authorized_public_key=self.authorized_public_key,
            )
            self._sshd.setup()
            self._sshd.start()
        self._start_power_thread(self._watch_reboot_requests, "reboot-watcher")

    def _write_running_shim_state(self) -> None:
        """A deployed server: every service running on generation-1 images, the app's built from the release
        checked out."""
        state = ShimState(self.state_dir)
        now = time.time()
        # the images the running containers were created from: generation 1, the app's built from the release
        # checked out (what its deployment built)
        release = state.checked_out_release()
        images: dict[str, dict[str, Any]] = {
            s: {"generation": 1, "source": "build", "release": release} if s in BUILT_SERVICES
            else {"generation": 1, "source": "pull"}
            for s in self.services_list
        }  # fmt: skip
        with state.locked():
            state.write(
                {
                    "services": {
                        s: {"state": "running", "since": now, "exit_code": 0, "image": images[s]}
                        for s in self.services_list
                    },
                    "images": images,
                    "pulls": [],
                    "builds": [],
                    "prunes": [],
                    "downs": [],
                }
            )
        for service in self.services_list:
            state.log(service, START_LINES.get(service, ["started"]) + INITIAL_LOGS.get(service, []))

    def _write_blank_shim_state(self) -> None:
        """A new server: only the postgres container exists and runs (the cluster is up); no image was built."""
        state = ShimState(self.state_dir)
        image = {"generation": 1, "source": "pull"}
        with state.locked():
            state.write(
                {
                    "services": {
                        "postgres": {"state": "running", "since": time.time(), "exit_code": 0, "image": image}
                    },
                    "images": {"postgres": image},
                    "pulls": [],
                    "builds": [],
                    "prunes": [],
                    "downs": [],
                }
            )
        state.log("postgres", START_LINES["postgres"])

    def stop(self) -> None:
        """Stop sshd (and its sessions), the health server, the backend process (monitoring mode) and PostgreSQL;
        safe to call repeatedly."""
        self._stopping.set()
        for thread in self._power_threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)
        server, self._sshd = self._sshd, None
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
        with contextlib.suppress(Exception):
            backend_control.stop(self.state_dir)  # it runs in its own session: nothing else would end it
        health, self._health = self._health, None
        if health is not None:
            with contextlib.suppress(Exception):
                health.stop()
        pg, self._pg = self._pg, None
        if pg is not None:
            pg.destroy()

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- connection facts ------------------------------------------------------------------------
    def _cluster(self) -> PostgresCluster:
        if self._pg is None:
            raise RuntimeError("LocalHost is not started")
        return self._pg

    @property
    def pg_bindir(self) -> Path:
        return self._cluster().bindir

    @property
    def pg_socket_dir(self) -> Path:
        return self._cluster().socket_dir

    def pg_conninfo(self) -> dict[str, Any]:
        """``psycopg.connect`` keyword arguments of the health check's connection (superuser, db postgres)."""
        return self._cluster().conninfo()

    @property
    def pg_port(self) -> int:
        return self._cluster().port

    @property
    def pg_datadir(self) -> Path:
        return self._cluster().datadir

    @property
    def health_url(self) -> str:
        if self._health is None:
            raise RuntimeError("LocalHost is not started")
        return self._health.url

    @property
    def ssh_port(self) -> int | None:
        return self._sshd.port if self._sshd is not None else None

    @property
    def ssh_private_key(self) -> str:
        return self._sshd.private_key if self._sshd is not None else ""

    @property
    def ssh_private_key_path(self) -> Path | None:
        if self._sshd is None or self._sshd.authorized_public_key is not None:
            return None
        return self._sshd.client_key

    @property
    def ssh_host_public_key(self) -> str:
        return self._sshd.host_public_key if self._sshd is not None else ""

    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...`` for a known_hosts file (empty without sshd)."""
        return self._sshd.known_hosts_line() if self._sshd is not None else ""

    def env(self, base_path: str | None = None) -> dict[str, str]:
        """Environment for commands "on the host": the docker shim and the stand-ins first on PATH, DOCKER and
        HEALTH_URL set, and the two seams of the daily check's host script (daily_check.sh), which only this
        environment sets, never a control-plane parameter: FTOPS_REBOOT_REQUIRED_FILE (this host's
        /var/run/reboot-required) and FTOPS_APT_CHECK (the apt-check stand-in: the real
        /usr/lib/update-notifier/apt-check may exist on the machine running the tests) and os_update.sh's
        FTOPS_BOOT_ID_FILE (this host's boot id, which its reboots change)."""
        path = base_path if base_path is not None else os.environ.get("PATH", DEFAULT_PATH)
        return {
            "PATH": f"{self.bin_dir}:{path}",
            "DOCKER": str(self.docker_bin),
            "HEALTH_URL": self.health_url,
            "FTOPS_REBOOT_REQUIRED_FILE": str(self.reboot_required_file),
            "FTOPS_APT_CHECK": str(self.bin_dir / "apt-check"),
            "FTOPS_BOOT_ID_FILE": str(self.boot_id_file),
        }

    # -- inspection ------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[object] = (), db: str = "frostguard") -> list[tuple[Any, ...]]:
        """Run one statement as superuser ``postgres`` (autocommit); rows if it returns any."""
        with psycopg.connect(**self._cluster().conninfo(dbname=db), autocommit=True) as conn:
            cur = conn.execute(query.encode(), params)  # bytes: a runtime query, not a literal
            return list(cur.fetchall()) if cur.description is not None else []

    def table_counts(self, db: str = "frostguard") -> dict[str, int]:
        """Exact ``count(*)`` of every table in schema public."""
        with psycopg.connect(**self._cluster().conninfo(dbname=db), autocommit=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
                ).fetchall()
            ]
            counts: dict[str, int] = {}
            for name in names:
                row = conn.execute(
                    pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier("public", name))
                ).fetchone()
                counts[name] = int(row[0]) if row else 0
            return counts

    def services(self) -> dict[str, str]:
        data = ShimState(self.state_dir).read()["services"]
        return {s: str(data.get(s, {}).get("state", "exited")) for s in self.services_list}

    def shim_state(self) -> dict[str, Any]:
        """The shim's full state.json (services, pulls, builds, prunes, downs)."""
        return ShimState(self.state_dir).read()

    def set_fault(self, name: str, spec: dict[str, Any] | None) -> None:
        """Set (or clear with None) one faults.json entry, e.g. ``pg_dump`` / ``{"drop_connection_after_bytes": 1}``."""
        faults.set_fault(ShimState(self.state_dir), name, spec)

    def set_pgdata_free_mb(self, free_mb: int | None) -> None:
        """``df`` inside the database container reports ``free_mb`` MB available (a nearly full data volume: the
        restore's swap-or-drop decision); None: the real figure again."""
        if free_mb is None:
            self.set_fault("df", None)
            return
        table = (
            "Filesystem     1048576-blocks  Used Available Capacity Mounted on\n"
            f"/dev/pgdata            {free_mb + 1000} 1000 {free_mb} 50% /var/lib/postgresql/data\n"
        )
        self.set_fault("df", {"stdout": table})

    def fail_health_while_changed(self, *relative_paths: str) -> None:
        """The health URL answers 503 while any of these files (relative to the app directory) differs from what it
        holds now: an app that does not start with a changed configuration. No paths: the fault cleared."""
        hashes = {p: hashlib.sha256((self.app_dir / p).read_bytes()).hexdigest() for p in relative_paths}
        self.set_fault("health", {"fail_while_changed": hashes} if hashes else None)

    def set_memory_fault(self, service: str, mem_percent: float | None) -> None:
        """``docker stats`` reports ``mem_percent`` MEM % for ``service`` until it stops or restarts (a leak the
        manual's High Memory Usage alert sees); None clears it (faults.py ``stats``)."""
        faults.set_stats_fault(ShimState(self.state_dir), service, mem_percent)

    # -- the host's own commands (stand_ins) -------------------------------------------------------------
    def set_fail2ban(
        self, jail: str = "sshd", banned: Sequence[str] = (), running: bool = True, *, failed: int = 0
    ) -> None:
        """``fail2ban-client status <jail>`` lists exactly ``banned`` (``failed``: its "Currently failed");
        ``running=False``: the server does not run (every call fails as fail2ban-client does then)."""
        fail2ban.set_jail(self.state_dir, jail, tuple(banned), running=running, failed=failed)

    def fail2ban_banned(self, jail: str = "sshd") -> tuple[str, ...]:
        """The IPs jail ``jail`` bans now (what ``set <jail> unbanip`` changed)."""
        return fail2ban.banned(self.state_dir, jail)

    def set_firewall(
        self,
        status: str = "active",
        default_incoming: str = "deny",
        rules: Sequence[tuple[str, str, str]] = ufw.DEFAULT_RULES,
    ) -> None:
        """What ``ufw status verbose`` shows: ``status`` active or inactive, the default incoming policy, and the
        rules as (To, Action, From), e.g. ``("22/tcp", "ALLOW IN", "Anywhere")``; the defaults are the manual's
        (SSH, HTTP, HTTPS allowed, v4 and v6; all other inbound denied)."""
        ufw.set_firewall(self.state_dir, status=status, default_incoming=default_incoming, rules=tuple(rules))

    def set_reboot_required(self, packages: Sequence[str] | None = None) -> None:
        """``/var/run/reboot-required`` (and ``.pkgs``, one package a line) as unattended-upgrades leaves them;
        None: no reboot required (both removed)."""
        pkgs = self.reboot_required_file.with_name(self.reboot_required_file.name + ".pkgs")
        if packages is None:
            self.reboot_required_file.unlink(missing_ok=True)
            pkgs.unlink(missing_ok=True)
            return
        self.reboot_required_file.write_text("*** System restart required ***\n", encoding="utf-8")
        pkgs.write_text("".join(f"{package}\n" for package in packages), encoding="utf-8")

    def set_os_updates(self, packages: Sequence[tuple[str, str, str, bool]]) -> None:
        """What ``apt-get upgrade`` finds after ``apt-get update``: (name, installed version, candidate version,
        needs_reboot) per package ("" installed: a new package, e.g. a new kernel's); the apt-check counts follow
        (updates: the packages whose candidate is not installed)."""
        apt_get.set_packages(self.state_dir, packages, self.reboot_required_file)

    def set_apt_fault(
        self, lock_held_s: float | None = None, fail: bool = False, *, hang_s: float | None = None
    ) -> None:
        """From now on: the dpkg lock (and the package lists' lock) held by unattended-upgrades for ``lock_held_s``
        seconds; every upgrade failing in dpkg (exit 100); every upgrade taking ``hang_s`` seconds. The defaults
        clear every fault."""
        apt_get.set_fault(self.state_dir, lock_held_s=lock_held_s, fail=fail, hang_s=hang_s)

    def installed_packages(self) -> dict[str, str]:
        """name -> installed version of every package ``set_os_updates`` named (what upgrades changed)."""
        return apt_get.installed(self.state_dir)

    def set_pending_updates(self, updates: int = 0, security: int = 0) -> None:
        """What apt-check counts: ``updates`` upgradable packages, ``security`` of them security updates."""
        apt_check.set_pending(self.state_dir, updates=updates, security=security)

    def set_cpu_fault(self, service: str, percent: float | None) -> None:
        """``docker stats`` reports ``percent`` CPU % for ``service`` until it stops or restarts; None clears it."""
        faults.set_stats_fault(ShimState(self.state_dir), service, percent, key="cpu_percent")

    def set_disk_use(self, used_percent: int | None) -> None:
        """``df -P`` reports the app directory's filesystem ``used_percent`` % used (its size unchanged; any path
        on that filesystem, ``/`` too when it is the same); None: the real numbers again."""
        mount = ""
        if used_percent is not None:
            out = subprocess.run(
                ["df", "-P", "-k", str(self.app_dir)], capture_output=True, text=True, check=True, timeout=30
            ).stdout
            mount = out.splitlines()[-1].split(maxsplit=5)[5]
        df.set_use(self.state_dir, mount, used_percent)

    # -- logs ------------------------------------------------------------------------------------------
    def seed_logs(self, service: str, lines: Sequence[str], at: datetime | None = None) -> None:
        """Add ``lines`` to ``service``'s log (``docker compose logs``), stamped ``at`` (default: now), in time
        order with what it holds."""
        when = at or datetime.now(UTC)
        logs_seed.append(self.state_dir / "logs", service, [(when, line) for line in lines])

    def seed_realistic_logs(self, now: datetime | None = None) -> dict[str, int]:
        """A day of backend and Caddy log lines (logs_seed: errors, slow requests, authentication failures,
        database errors, Caddy 4xx/5xx, a few lines older than a day, one secret: logs_seed.SEEDED_SECRET), added
        to what the logs hold. Returns what each of the manual's log queries counts of the SEEDED lines over the
        24 h before ``now``: after ``clear_logs()``, exactly what the daily check must count."""
        when = now or datetime.now(UTC)
        lines = logs_seed.realistic_lines(when)
        for service, stamped in lines.items():
            logs_seed.append(self.state_dir / "logs", service, stamped)
        return logs_seed.window_counts(lines, when)

    def clear_logs(self) -> None:
        """Empty every service's log (no finding from the log queries)."""
        logs_seed.clear(self.state_dir / "logs")

    def commands(self) -> list[list[str]]:
        """Every docker invocation so far (argv lists, ``["docker", "compose", ...]``)."""
        try:
            lines = (self.state_dir / "commands.log").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [list(json.loads(line)["argv"]) for line in lines if line.strip()]

    def crash_service(self, service: str, exit_code: int = 137) -> None:
        """Mark a service exited with ``exit_code`` (postgres really stops), as if it crashed."""
        state = ShimState(self.state_dir)
        with state.locked():
            data = state.read()
            state.set_service(data, service, "exited", exit_code)
            state.write(data)
        if service == "backend":  # monitoring mode: the backend process dies with its container
            backend_control.follow(self.state_dir, service_running=False)

    def start_service(self, service: str) -> None:
        """``docker compose up -d SERVICE`` on the host (through its docker shim), as an operator would."""
        subprocess.run(
            [str(self.docker_bin), "compose", "up", "-d", service],
            cwd=self.app_dir, env=self.env(), check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def publish_release(
        self, tag: str, *, migration_sql: str | None = None, healthy: bool = True, withdraw: Sequence[str] = ()
    ) -> str:
        """Push a new release commit on main + tag ``tag`` to the app repo's origin (``git fetch --tags`` then
        sees it); the commit id. ``migration_sql``: its migration (``migrations/<NNNN>_<tag>.sql``, applied by
        the next deployment of it), none when None; ``healthy``: whether its backend passes the health check
        once deployed (``release.json``; the health endpoint answers 500 while an unhealthy release runs);
        ``withdraw``: earlier releases whose migration files this one removes (a fix release)."""
        return app_repo.publish_release(self.root, tag, migration_sql=migration_sql, healthy=healthy, withdraw=withdraw)

    def publish_branch(
        self,
        branch: str,
        *,
        base: str = "main",
        message: str | None = None,
        migration_sql: str | None = None,
        healthy: bool = True,
    ) -> str:
        """Push one new commit to origin's ``branch`` (created from ``base``, a branch, tag or commit of origin,
        when missing); the commit id. A branch from an older release is not a fast-forward of the app's HEAD."""
        return app_repo.publish_branch(
            self.root, branch, base=base, message=message, migration_sql=migration_sql, healthy=healthy
        )

    def publish_images(self, *, healthy: bool = True, services: Sequence[str] | None = None) -> None:
        """What the registry serves from now on for ``services`` (default: every service whose image is not built
        from the app's code): every later ``docker compose pull`` brings each of them a new image (a new
        registry digest), which works, or (``healthy=False``) breaks the app: the health endpoint answers 500
        while a container runs it. Images pulled before keep what they were."""
        state = ShimState(self.state_dir)
        chosen = list(services) if services is not None else [s for s in self.services_list if s not in BUILT_SERVICES]
        state.check_services(chosen)
        with state.locked():
            data = state.read()
            for service in chosen:
                data["registry"][service] = {"healthy": healthy}
            state.write(data)

    def app_version(self) -> str:
        """What ``git describe --tags`` says in the app directory (the checked-out code)."""
        return app_repo.describe(self.app_dir)

    def deployed_release(self) -> dict[str, Any] | None:
        """The release the backend container runs (``{"version": "v1.2.0", "healthy": true}``): what the health
        endpoint answers for."""
        return ShimState(self.state_dir).deployed_release()

    def images(self) -> dict[str, dict[str, Any]]:
        """``docker compose images --format json`` by service: ``ID`` (of the image the container runs),
        ``Repository``, ``Tag``, and the shim's ``Digest``/``Generation`` (the local image) and ``RunningDigest``
        (the registry digest, or the shim's identity of a built image, that the container runs)."""
        out = subprocess.run(
            [str(self.docker_bin), "compose", "images", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return {row["Service"]: row for row in json.loads(out)}

    # -- sshd ------------------------------------------------------------------------------------
    def stop_database(self) -> None:
        """Stop the host's PostgreSQL (with ``stop_sshd``: a server lost to a disaster)."""
        self._cluster().stop()

    def start_database(self) -> None:
        """Start the host's PostgreSQL again after ``stop_database`` (a database container that crashed and was
        restarted by its restart policy), with the same data directory and port; nothing when it runs."""
        if not self._cluster().is_running():
            self._cluster().start()

    def stop_sshd(self) -> None:
        if self._sshd is not None:
            self._sshd.stop()

    def start_sshd(self) -> None:
        """Restart sshd on the same port with the same keys."""
        if self._sshd is not None:
            self._sshd.start()

    # -- power -----------------------------------------------------------------------------------
    def boot_id(self) -> str:
        """This boot's id (``/proc/sys/kernel/random/boot_id``): a new one after every reboot."""
        return self.boot_id_file.read_text(encoding="utf-8").strip()

    @property
    def powered(self) -> bool:
        return self._powered

    def _write_boot_id(self) -> None:
        self.boot_id_file.parent.mkdir(parents=True, exist_ok=True)
        self.boot_id_file.write_text(f"{uuid.uuid4()}\n", encoding="utf-8")

    def _notify(self, powered: bool) -> None:
        if self.on_power is not None:
            self.on_power(powered)

    def power_off(self) -> None:
        """As a shutdown does: the containers stop (the host remembers which ran: their restart policy starts them
        at the next boot), sshd stops (its sessions end), the SSM agent goes offline (``on_power(False)``)."""
        with self._power_lock:
            if not self._powered:
                return
            self._powered = False
            state = ShimState(self.state_dir)
            with state.locked():
                data = state.read()
                self._was_running = [name for name, entry in data["services"].items() if entry["state"] == "running"]
                for service in sorted(self._was_running, key=lambda name: name == "postgres"):  # postgres last
                    state.set_service(data, service, "exited", 0)
                state.write(data)
            backend_control.follow(self.state_dir, service_running=False)
            if self._sshd is not None:
                self._sshd.stop(grace_s=2.0)  # its sessions get SIGTERM first, as at a real shutdown
        self._notify(False)

    def power_on(self) -> None:
        """As a boot does: a new boot id, no reboot-required flag, sshd on the same port with the same keys, the
        containers that ran before running again (the manual: "services auto-start"), the SSM agent online
        (``on_power(True)``)."""
        with self._power_lock:
            if self._powered:
                return
            self._write_boot_id()
            self.set_reboot_required(None)
            if self._sshd is not None:
                self._sshd.start()
            state = ShimState(self.state_dir)
            with state.locked():
                data = state.read()
                for service in sorted(self._was_running, key=lambda name: name != "postgres"):  # postgres first
                    state.set_service(data, service, "running")
                state.write(data)
            backend_control.follow(self.state_dir, service_running="backend" in self._was_running, restarted=True)
            self._powered = True
        self._notify(True)

    def reboot(self, delay_s: float | None = None) -> None:
        """Power off now and on again ``delay_s`` (default ``reboot_delay_s``) later, in a thread; with
        ``set_reboot_fault(never_returns=True)`` the host stays off."""
        self.power_off()
        if self._never_returns:
            return
        delay = self.reboot_delay_s if delay_s is None else delay_s
        self._start_power_thread(lambda: self._power_on_after(delay), "power-on")

    def set_reboot_fault(self, never_returns: bool) -> None:
        """``never_returns``: a reboot leaves the host off (it "does not come back"); ``power_on`` still works."""
        self._never_returns = never_returns

    def _power_on_after(self, delay_s: float) -> None:
        if self._stopping.wait(delay_s) or self._never_returns:
            return
        self.power_on()

    def _start_power_thread(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # a thread has no caller: kept for the tests to see
                self.power_errors.append(f"{name}: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=run, name=f"{self.name}-{name}", daemon=True)
        self._power_threads = [t for t in self._power_threads if t.is_alive()] + [thread]
        thread.start()

    def _watch_reboot_requests(self) -> None:
        """The reboot stand-ins' requests (stand_ins/power.py): reboot once the requesting command has ended (a
        real reboot would end it; sshd first sends its exit status), or when its timer's delay has passed."""
        request = power.request_path(self.state_dir)
        while not self._stopping.wait(0.1):
            try:
                data = json.loads(request.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                continue
            request.unlink(missing_ok=True)
            deadline = float(data["at"]) + float(data["delay_s"])
            while time.time() < deadline and _alive(int(data["pid"])):
                if self._stopping.wait(0.05):
                    return
            # the session's exit status reaches the client before sshd goes (a timer's delay, shortened)
            if self._stopping.wait(min(0.5, max(0.0, deadline - time.time()))):
                return
            self.reboot()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
