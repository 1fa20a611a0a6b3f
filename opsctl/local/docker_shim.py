"""A ``docker`` CLI stand-in for the local FreshTrack host (tests and the local plane only; never deployed).

Usage: ``docker_shim.py --state STATE_DIR <docker arguments>`` (the generated ``<root>/bin/docker`` wrapper).
It implements the subset of the docker CLI that the operations manual uses, over the local PostgreSQL
cluster and JSON files in STATE_DIR:

- ``host.json``     written once by LocalHost: project, app dir, services, the cluster (bindir, datadir, ...)
- ``state.json``    services (state, since, exit code) and records of pulls, builds, prunes, downs
- ``faults.json``   fault injection (optional), see ``_exec_with_faults`` and ``compose_fault``
- ``commands.log``  every invocation: one JSON object per line ``{"ts", "pid", "argv"}``
- ``logs/<service>.log``  what ``compose logs`` prints

This module is standard library only (it is started for every docker call, including the benchmarked
``compose exec -T postgres pg_dump`` path, which ends in ``os.execvpe`` of the real pg_dump).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

DEFAULT_SERVICES = ("backend", "worker", "postgres", "redis", "caddy")
PG_TOOLS = frozenset(
    {"psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_isready", "createdb", "dropdb", "createuser",
     "dropuser", "vacuumdb", "reindexdb", "pg_ctl"}
)  # fmt: skip
SSHD_COMMS = frozenset({"sshd", "sshd-session"})
# The manual's resource limits table (compose.production.yaml); the file, when parseable, wins.
DEFAULT_LIMITS: dict[str, tuple[float, int]] = {
    "backend": (2.0, 2048),
    "worker": (1.0, 1024),
    "postgres": (2.0, 2048),
    "redis": (0.5, 512),
    "caddy": (0.5, 512),
}
# Deterministic "usage" per service: (cpu %, memory fraction of the limit)
FAKE_USAGE: dict[str, tuple[float, float]] = {
    "backend": (12.37, 0.31),
    "worker": (4.05, 0.22),
    "postgres": (7.81, 0.43),
    "redis": (0.62, 0.04),
    "caddy": (0.18, 0.03),
}
START_LINES: dict[str, list[str]] = {
    "backend": ["Connected to database frostguard", "Server listening on 0.0.0.0:3000"],
    "worker": ["Connected to redis://redis:6379", "Worker ready, waiting for jobs"],
    "postgres": ["database system is ready to accept connections"],
    "redis": ["Ready to accept connections tcp"],
    "caddy": ["serving initial configuration", '{"level":"info","msg":"handled request","status":200}'],
}
STOP_LINES: dict[str, list[str]] = {
    "backend": ["Received SIGTERM, shutting down gracefully", "Server stopped"],
    "worker": ["Received SIGTERM, finishing current job", "Worker stopped"],
    "postgres": ["received fast shutdown request", "database system is shut down"],
    "redis": ["Received SIGTERM scheduling shutdown...", "Redis is now ready to exit, bye bye..."],
    "caddy": ["shutting down apps, then terminating", "shutdown complete"],
}


class ShimError(Exception):
    """A docker-style failure: message to stderr, exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _now() -> float:
    return time.time()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: how long a ``wait_for`` fault holds a command at most: a test that never releases it fails, it does not hang
HOLD_TIMEOUT_S = 120.0


def _held_until(release: Path, timeout_s: float) -> bool:
    """The ``wait_for`` fault: wait until ``release`` exists (False after ``timeout_s``). A test holds a command
    this way for exactly as long as it needs (a lock kept, a state kept busy) instead of guessing a delay.
    ``<release>.held.<pid>`` is written first, so the test can wait until the command has really reached the
    hold. Polled (the shim is standard library only); a TERM or KILL ends the wait like any command."""
    release.with_name(f"{release.name}.held.{os.getpid()}").touch()
    deadline = time.monotonic() + timeout_s
    while not release.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class ShimState:
    """The shim's files in the state dir; every mutation happens under an exclusive fcntl lock."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.host: dict[str, Any] = _read_json(state_dir / "host.json", {})
        self.services: tuple[str, ...] = tuple(self.host.get("services", DEFAULT_SERVICES))
        self.project: str = str(self.host.get("project", "freshtrack-pro"))

    # -- files -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with (self.dir / "state.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = _read_json(self.dir / "state.json", {})
        data.setdefault("services", {})
        for key in ("pulls", "builds", "prunes", "downs"):
            data.setdefault(key, [])
        return data

    def write(self, data: dict[str, Any]) -> None:
        _write_json_atomic(self.dir / "state.json", data)

    def faults(self) -> dict[str, Any]:
        data: dict[str, Any] = _read_json(self.dir / "faults.json", {})
        return data

    def record_command(self, argv: Sequence[str]) -> None:
        line = json.dumps({"ts": _iso(_now()), "pid": os.getpid(), "argv": list(argv)}) + "\n"
        with (self.dir / "commands.log").open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line)

    def log(self, service: str, lines: Sequence[str]) -> None:
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        stamp = _iso(_now())
        with (logs / f"{service}.log").open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.writelines(f"{stamp} {line}\n" for line in lines)

    # -- services --------------------------------------------------------------------------------
    def service_state(self, service: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.read()["services"].get(service, {"state": "exited", "since": 0, "exit_code": 0})
        return entry

    def set_service(self, data: dict[str, Any], service: str, state: str, exit_code: int = 0) -> None:
        """Change one service in ``data`` (caller holds the lock and writes); postgres really starts/stops."""
        current = data["services"].get(service, {})
        if current.get("state") == state and state == "running":
            return
        if service == "postgres":
            if state == "running":
                self.pg_ctl("start")
            else:
                self.pg_ctl("stop")
        data["services"][service] = {"state": state, "since": _now(), "exit_code": exit_code}
        if state == "running":
            self.log(service, START_LINES.get(service, ["started"]))
        elif exit_code == 0:
            self.log(service, STOP_LINES.get(service, ["stopped"]))
        else:
            self.log(service, [f"process exited with code {exit_code}"])

    def pg_ctl(self, action: str) -> None:
        pg: dict[str, Any] = self.host.get("pg", {})
        if not pg:
            return
        datadir = Path(pg["datadir"])
        running = (datadir / "postmaster.pid").exists()
        if (action == "start" and running) or (action == "stop" and not running):
            return
        argv = [*pg.get("run_as", []), str(Path(pg["bindir"]) / "pg_ctl"), action, "-D", str(datadir), "-w"]
        if action == "start":
            argv += ["-l", pg["logfile"], "-t", "60"]
        else:
            argv += ["-m", "fast", "-t", "60"]
        proc = subprocess.run(argv, cwd=pg["base"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ShimError(f"Error response from daemon: postgres {action} failed: {proc.stderr.strip()}")

    def check_services(self, names: Sequence[str]) -> list[str]:
        for name in names:
            if name not in self.services:
                raise ShimError(f"no such service: {name}")
        return list(names) or list(self.services)

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def app_dir(self) -> Path:
        return Path(self.host.get("app_dir", "."))

    def app_version(self) -> str:
        try:
            return (self.app_dir() / "VERSION").read_text(encoding="utf-8").strip() or "latest"
        except OSError:
            return "latest"

    def image(self, service: str) -> str:
        images = {"postgres": "postgres:15-alpine", "redis": "redis:7-alpine", "caddy": "caddy:2-alpine"}
        return images.get(service, f"ghcr.io/freshtrack/freshtrack-pro:{self.app_version()}")

    def limits(self) -> dict[str, tuple[float, int]]:
        """cpus/memory per service from compose.production.yaml (a line scan), else the manual's table."""
        limits = dict(DEFAULT_LIMITS)
        try:
            text = (self.app_dir() / "compose.production.yaml").read_text(encoding="utf-8")
        except OSError:
            return limits
        service: str | None = None
        for line in text.splitlines():
            m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
            if m:
                service = m.group(1)
                continue
            if service is None:
                continue
            cpu = re.match(r"^\s+cpus:\s*['\"]?([0-9.]+)['\"]?\s*$", line)
            mem = re.match(r"^\s+memory:\s*['\"]?([0-9]+)([MG])['\"]?\s*$", line)
            cur = limits.get(service, (1.0, 1024))
            if cpu:
                limits[service] = (float(cpu.group(1)), cur[1])
            elif mem:
                mb = int(mem.group(1)) * (1024 if mem.group(2) == "G" else 1)
                limits[service] = (cur[0], mb)
        return limits


# -- formatting helpers ------------------------------------------------------------------------------
def _human_duration(seconds: float) -> str:
    s = int(max(0, seconds))
    steps: list[tuple[int, str]] = [
        (1, "Less than a second"),
        (60, f"{s} seconds"),
        (120, "About a minute"),
        (3600, f"{s // 60} minutes"),
        (7200, "About an hour"),
        (172800, f"{s // 3600} hours"),
    ]
    return next((text for bound, text in steps if s < bound), f"{s // 86400} days")


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def _parse_since(value: str) -> float:
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if m and value:
        hours, minutes, secs = (int(g) if g else 0 for g in m.groups())
        return _now() - (hours * 3600 + minutes * 60 + secs)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ShimError(f'invalid value "{value}" for flag --since') from exc


def _split_opts(args: Sequence[str], with_value: frozenset[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split ``args`` into options (``--x=v``, ``--x v`` for options in with_value, flags) and positionals."""
    opts: dict[str, list[str]] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1 and not positional:
            name, eq, value = arg.partition("=")
            if eq:
                opts.setdefault(name, []).append(value)
            elif name in with_value and i + 1 < len(args):
                opts.setdefault(name, []).append(args[i + 1])
                i += 1
            elif name.startswith("-") and not name.startswith("--") and len(name) > 2:
                for ch in name[1:]:  # combined short flags: -it, -af
                    opts.setdefault(f"-{ch}", []).append("")
            else:
                opts.setdefault(name, []).append("")
        else:
            positional.append(arg)
        i += 1
    return opts, positional


# -- the docker CLI ------------------------------------------------------------------------------------
COMPOSE_GLOBAL_WITH_VALUE = frozenset(
    {"-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile", "--ansi",
     "--progress", "--parallel"}
)  # fmt: skip


class Shim:
    def __init__(self, state: ShimState, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.s = state
        self.out = out
        self.err = err

    def main(self, args: list[str]) -> int:
        if not args:
            raise ShimError("Usage:  docker [OPTIONS] COMMAND")
        cmd, rest = args[0], args[1:]
        if cmd == "compose":
            return self.compose(rest)
        if cmd == "system" and rest:
            if rest[0] == "df":
                return self.system_df()
            if rest[0] == "prune":
                return self.system_prune(rest[1:])
        if cmd == "stats":
            return self.stats(rest)
        if cmd == "version":
            self.out.write("Docker version 27.0.0-opsctl-shim\n")
            return 0
        raise ShimError(f"docker shim: unsupported command: docker {' '.join(args)}")

    # -- compose ---------------------------------------------------------------------------------
    def compose(self, args: list[str]) -> int:
        i = 0
        while i < len(args) and args[i].startswith("-"):
            name = args[i].partition("=")[0]
            i += 2 if name in COMPOSE_GLOBAL_WITH_VALUE and "=" not in args[i] else 1
        if i >= len(args):
            raise ShimError("Usage:  docker compose [OPTIONS] COMMAND")
        sub, rest = args[i], args[i + 1 :]
        fault = self.s.faults().get(f"compose:{sub}")
        if isinstance(fault, dict) and fault.get("fail"):
            raise ShimError(str(fault.get("message", f"injected failure of docker compose {sub}")))
        handler = {
            "ps": self.compose_ps,
            "stop": self.compose_stop,
            "start": self.compose_start,
            "restart": self.compose_restart,
            "up": self.compose_up,
            "down": self.compose_down,
            "logs": self.compose_logs,
            "pull": self.compose_pull,
            "build": self.compose_build,
            "exec": self.compose_exec,
            "version": self.compose_version,
        }.get(sub)
        if handler is None:
            raise ShimError(f"docker shim: unsupported compose command: {sub}")
        return handler(rest)

    def compose_version(self, _args: list[str]) -> int:
        self.out.write("Docker Compose version v2.29.0-opsctl-shim\n")
        return 0

    def _ps_rows(self, names: list[str]) -> list[dict[str, Any]]:
        data = self.s.read()
        rows: list[dict[str, Any]] = []
        now = _now()
        for svc in names:
            entry = data["services"].get(svc, {"state": "exited", "since": now, "exit_code": 0})
            running = entry["state"] == "running"
            health = "healthy" if running and svc in {"backend", "postgres", "redis"} else ""
            age = _human_duration(now - float(entry["since"]))
            if running:
                status = f"Up {age}" + (f" ({health})" if health else "")
            else:
                status = f"Exited ({entry.get('exit_code', 0)}) {age} ago"
            rows.append(
                {
                    "ID": _container_id(self.s.project, svc),
                    "Name": self.s.container(svc),
                    "Service": svc,
                    "Project": self.s.project,
                    "Image": self.s.image(svc),
                    "State": "running" if running else "exited",
                    "Status": status,
                    "Health": health,
                    "ExitCode": 0 if running else int(entry.get("exit_code", 0)),
                    "Publishers": [],
                }
            )
        return rows

    def compose_ps(self, args: list[str]) -> int:
        opts, names = _split_opts(args, frozenset({"--format", "--filter", "--status"}))
        rows = self._ps_rows(self.s.check_services(names))
        # Note: unlike docker, stopped services are always listed (as with ``--all``).
        for status in opts.get("--status", []):
            rows = [r for r in rows if r["State"] == status]
        if "-q" in opts or "--quiet" in opts:
            self.out.writelines(f"{r['ID']}\n" for r in rows if r["State"] == "running")
            return 0
        if "--services" in opts:
            self.out.writelines(f"{r['Service']}\n" for r in rows)
            return 0
        if opts.get("--format", [""])[-1] == "json":
            self.out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
            return 0
        table = [["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"]]
        table += [[r["Name"], r["Image"], r["Service"], r["Status"], ""] for r in rows]
        _table(table, self.out)
        return 0

    def _transition(self, names: list[str], state: str, verb: str) -> int:
        with self.s.locked():
            data = self.s.read()
            for svc in names:
                self.err.write(f" Container {self.s.container(svc)}  {verb}ing\n")
                self.s.set_service(data, svc, state)
                self.err.write(f" Container {self.s.container(svc)}  {verb}ed\n")
            self.s.write(data)
        return 0

    def compose_stop(self, args: list[str]) -> int:
        _opts, names = _split_opts(args, frozenset({"-t", "--timeout"}))
        return self._transition(self.s.check_services(names), "exited", "Stopp")

    def compose_start(self, args: list[str]) -> int:
        _opts, names = _split_opts(args, frozenset())
        return self._transition(self.s.check_services(names), "running", "Start")

    def compose_restart(self, args: list[str]) -> int:
        _opts, names = _split_opts(args, frozenset({"-t", "--timeout"}))
        targets = self.s.check_services(names)
        with self.s.locked():
            data = self.s.read()
            for svc in targets:
                self.err.write(f" Container {self.s.container(svc)}  Restarting\n")
                self.s.set_service(data, svc, "exited")
                self.s.set_service(data, svc, "running")
                self.err.write(f" Container {self.s.container(svc)}  Started\n")
            self.s.write(data)
        return 0

    def compose_up(self, args: list[str]) -> int:
        _opts, names = _split_opts(args, frozenset({"-t", "--timeout", "--scale", "--wait-timeout", "--pull"}))
        targets = self.s.check_services(names)
        with self.s.locked():
            data = self.s.read()
            # postgres first, like depends_on
            for svc in sorted(targets, key=lambda s: s != "postgres"):
                self.s.set_service(data, svc, "running")
                self.err.write(f" Container {self.s.container(svc)}  Started\n")
            self.s.write(data)
        return 0

    def compose_down(self, args: list[str]) -> int:
        opts, _names = _split_opts(args, frozenset({"-t", "--timeout", "--rmi"}))
        volumes = "-v" in opts or "--volumes" in opts
        with self.s.locked():
            data = self.s.read()
            for svc in sorted(self.s.services, key=lambda s: s == "postgres"):  # postgres last
                if data["services"].get(svc, {}).get("state") == "running":
                    self.s.set_service(data, svc, "exited")
                self.err.write(f" Container {self.s.container(svc)}  Removed\n")
            data["downs"].append({"ts": _iso(_now()), "args": args, "volumes": volumes})
            self.s.write(data)
        if volumes:
            self.err.write("WARNING: --volumes requested: named volumes would be removed (shim keeps data)\n")
        return 0

    def compose_logs(self, args: list[str]) -> int:
        opts, names = _split_opts(args, frozenset({"--since", "--until", "-n", "--tail"}))
        targets = self.s.check_services(names)
        since = _parse_since(opts["--since"][-1]) if "--since" in opts else None
        tail_opt = (opts.get("--tail") or opts.get("-n") or ["all"])[-1]
        tail = None if tail_opt in {"all", "-1", ""} else int(tail_opt)
        timestamps = "-t" in opts or "--timestamps" in opts
        no_prefix = "--no-log-prefix" in opts
        width = max(len(f"{s}-1") for s in targets)
        for svc in targets:
            try:
                lines = (self.s.dir / "logs" / f"{svc}.log").read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                lines = []
            picked: list[tuple[str, str]] = []
            for line in lines:
                stamp, _, msg = line.partition(" ")
                if since is not None:
                    try:
                        if datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() < since:
                            continue
                    except ValueError:
                        continue
                picked.append((stamp, msg))
            if tail is not None:
                picked = picked[-tail:] if tail > 0 else []
            prefix = "" if no_prefix else f"{svc}-1".ljust(width) + "  | "
            for stamp, msg in picked:
                self.out.write(f"{prefix}{stamp + ' ' if timestamps else ''}{msg}\n")
        return 0

    def compose_pull(self, args: list[str]) -> int:
        _opts, names = _split_opts(args, frozenset())
        targets = self.s.check_services(names)
        with self.s.locked():
            data = self.s.read()
            data["pulls"].append({"ts": _iso(_now()), "services": targets})
            self.s.write(data)
        for svc in targets:
            self.err.write(f" {svc} Pulled\n")
        return 0

    def compose_build(self, args: list[str]) -> int:
        opts, names = _split_opts(args, frozenset({"--build-arg", "--progress"}))
        targets = [s for s in self.s.check_services(names) if s in {"backend", "worker"}]
        with self.s.locked():
            data = self.s.read()
            data["builds"].append({"ts": _iso(_now()), "services": targets, "no_cache": "--no-cache" in opts})
            self.s.write(data)
        for svc in targets:
            self.err.write(f" {svc}  Built\n")
        return 0

    # -- exec ------------------------------------------------------------------------------------
    def compose_exec(self, args: list[str]) -> int:
        opts, rest = _split_opts(args, frozenset({"-u", "--user", "-e", "--env", "-w", "--workdir", "--index"}))
        if not rest:
            raise ShimError('"docker compose exec" requires at least 2 arguments.')
        service, argv = rest[0], rest[1:]
        self.s.check_services([service])
        if not argv:
            raise ShimError('"docker compose exec" requires at least 2 arguments.')
        if self.s.service_state(service).get("state") != "running":
            raise ShimError(f'service "{service}" is not running')
        extra_env = dict(e.partition("=")[::2] for e in opts.get("-e", []) + opts.get("--env", []))
        self.s.log(service, [f"exec: {argv[0]}"])
        if service == "postgres":
            return self._exec_postgres(argv, extra_env)
        return self._exec_app(service, argv, extra_env)

    def _exec_app(self, service: str, argv: list[str], extra_env: dict[str, str]) -> int:
        if argv[:2] == ["npm", "run"] and len(argv) >= 3:
            self.out.write(f"\n> freshtrack-pro@{self.s.app_version().lstrip('v')} {argv[2]}\n\n")
            if argv[2].startswith("db:migrate"):
                self.out.write("All migrations applied. Database is up to date.\n")
            self.s.log(service, [f"npm run {argv[2]} finished"])
            return 0
        env = {**os.environ, **extra_env}
        try:
            return subprocess.run(argv, cwd=self.s.app_dir(), env=env, check=False).returncode
        except FileNotFoundError:
            return _not_found(self.err, argv[0])

    def _exec_postgres(self, argv: list[str], extra_env: dict[str, str]) -> int:
        pg: dict[str, Any] = self.s.host.get("pg", {})
        if not pg:
            raise ShimError("postgres is not configured in host.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGHOST": pg["socket_dir"], "PGPORT": str(pg["port"]), "PGUSER": "postgres", **extra_env})
        tool = Path(pg["bindir"]) / argv[0]
        exe = str(tool) if argv[0] in PG_TOOLS and tool.exists() else argv[0]
        fault = self._claim_fault(Path(argv[0]).name, argv)
        sys.stdout.flush()
        if fault:
            return self._exec_with_faults(exe, argv, env, fault)
        with contextlib.suppress(OSError):
            os.chdir("/")
        try:
            os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606 - replaces this process on purpose
        except FileNotFoundError:
            return _not_found(self.err, argv[0])
        return 0  # pragma: no cover - execvpe does not return

    def _claim_fault(self, name: str, argv: list[str]) -> dict[str, Any] | None:
        """The fault for this call, if any. ``unless_arg`` spares calls carrying that argument (e.g. a
        ``pg_restore --list`` while real restores fail); ``times`` makes a fault fire only N times."""
        with self.s.locked():
            faults = self.s.faults()
            fault = faults.get(name)
            if not isinstance(fault, dict) or not fault:
                return None
            if fault.get("unless_arg") in argv:
                return None
            if "times" in fault:
                remaining = int(fault["times"]) - 1
                if remaining > 0:
                    faults[name] = fault | {"times": remaining}
                else:
                    faults.pop(name)
                _write_json_atomic(self.s.dir / "faults.json", faults)
        return {k: v for k, v in fault.items() if k not in ("times", "unless_arg")}

    def _exec_with_faults(self, exe: str, argv: list[str], env: dict[str, str], fault: dict[str, Any]) -> int:
        """Fault injection for exec'd commands (``faults.json`` keyed by command name, e.g. ``pg_dump``).

        - ``{"fail": true, "message": "...", "exit_code": 1}``: print an error, exit without running it
          (stdin is drained first unless it is a terminal, like a pg_restore reporting errors at the end).
        - ``{"drop_connection_after_bytes": N}``: forward N bytes of stdout, then SIGKILL the sshd session
          that runs us (a dropped SSH connection mid-stream); exit 255 when there is no such session.
        - ``{"wait_for": PATH}``: hold the command until PATH exists, then run it (see ``_held_until``).
        """
        name = Path(argv[0]).name
        rest = self._after_hold(name, fault)
        if rest is None:
            return 124
        if not rest:  # a hold and nothing else: run the command for real
            os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606
        fault = rest
        delay = float(fault.get("delay_s", 0))
        if delay > 0:  # ``{"delay_s": S}``: a slow command (one that must outlive a timeout; to hold: wait_for)
            time.sleep(delay)
            if set(fault) == {"delay_s"}:
                os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606
        if fault.get("fail"):
            if not sys.stdin.isatty():
                with contextlib.suppress(OSError):
                    while sys.stdin.buffer.read(1 << 20):
                        pass
            msg = fault.get("message") or f"{name}: error: injected failure (opsctl fault {name}.fail)"
            self.err.write(f"{msg}\n")
            self.err.flush()
            return int(fault.get("exit_code", 1))
        limit = fault.get("drop_connection_after_bytes")
        if limit is None:
            raise ShimError(f"unknown fault for {name}: {fault}")
        proc = subprocess.Popen([exe, *argv[1:]], env=env, stdout=subprocess.PIPE, cwd="/")
        assert proc.stdout is not None
        remaining = int(limit)
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536) if remaining > 0 else b""
            if not chunk:
                break
            piece = chunk[:remaining]
            _write_all(1, piece)
            remaining -= len(piece)
            if remaining <= 0:
                break
        if remaining > 0:  # the command finished before the limit: no fault triggered
            return proc.wait()
        self.err.flush()
        self._drop_ssh_connection()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        os._exit(255)

    def _after_hold(self, name: str, fault: dict[str, Any]) -> dict[str, Any] | None:
        """The ``wait_for`` fault (``_held_until``): the rest of ``fault`` once released (all of it when there
        is no hold), or None when the release never came (the command does not run)."""
        if "wait_for" not in fault:
            return fault
        if not _held_until(Path(str(fault["wait_for"])), float(fault.get("timeout_s", HOLD_TIMEOUT_S))):
            self.err.write(f"{name}: opsctl fault {name}.wait_for: {fault['wait_for']} never appeared\n")
            self.err.flush()
            return None
        return {key: value for key, value in fault.items() if key not in ("wait_for", "timeout_s")}

    def _drop_ssh_connection(self) -> None:
        listener = _read_pid(self.s.dir / "sshd.pid")
        for pid in _sshd_ancestors(os.getpid(), listener):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    # -- system / stats --------------------------------------------------------------------------
    def _reclaimable(self) -> bool:
        data = self.s.read()
        last_prune = max((p["ts"] for p in data["prunes"] if p.get("all")), default="")
        last_change = max([p["ts"] for p in data["pulls"]] + [b["ts"] for b in data["builds"]], default="0")
        return last_change > last_prune

    def system_df(self) -> int:
        running = sum(1 for svc in self.s.services if self.s.service_state(svc).get("state") == "running")
        reclaim = self._reclaimable() or not self.s.read()["prunes"]
        rows = [
            ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
            ["Images", "7" if reclaim else "5", str(running), "2.31GB" if reclaim else "1.70GB",
             "612.4MB (26%)" if reclaim else "0B (0%)"],
            ["Containers", str(len(self.s.services)), str(running), "12.3MB", "0B (0%)"],
            ["Local Volumes", "3", "3", "1.52GB", "0B (0%)"],
            ["Build Cache", "12" if reclaim else "0", "0", "845MB" if reclaim else "0B",
             "845MB" if reclaim else "0B"],
        ]  # fmt: skip
        _table(rows, self.out)
        return 0

    def system_prune(self, args: list[str]) -> int:
        opts, _ = _split_opts(args, frozenset({"--filter"}))
        everything = "-a" in opts or "--all" in opts
        volumes = "--volumes" in opts
        force = "-f" in opts or "--force" in opts
        self.out.write(
            "WARNING! This will remove:\n  - all stopped containers\n"
            "  - all networks not used by at least one container\n"
        )
        if volumes:
            self.out.write("  - all anonymous volumes not used by at least one container\n")
            self.err.write("WARNING: --volumes given: volumes (including database data) would be removed!\n")
        images = "all images without at least one container associated to them" if everything else "all dangling images"
        self.out.write(f"  - {images}\n  - unused build cache\n")
        if not force:
            self.out.write("\nAre you sure you want to continue? [y/N] ")
            self.out.flush()
            answer = sys.stdin.readline().strip().lower()
            if answer not in {"y", "yes"}:
                return 1
        reclaimed = "1.46GB" if self._reclaimable() or not self.s.read()["prunes"] else "0B"
        with self.s.locked():
            data = self.s.read()
            data["prunes"].append({"ts": _iso(_now()), "args": args, "all": everything, "volumes": volumes})
            self.s.write(data)
        self.out.write(f"\nTotal reclaimed space: {reclaimed}\n")
        return 0

    def stats(self, args: list[str]) -> int:
        opts, names = _split_opts(args, frozenset({"--format"}))
        limits = self.s.limits()
        rows = []
        for svc in self.s.services:
            container = self.s.container(svc)
            if names and container not in names and svc not in names:
                continue
            if self.s.service_state(svc).get("state") != "running":
                continue
            cpu, frac = FAKE_USAGE.get(svc, (1.0, 0.1))
            cpus, mem_mb = limits.get(svc, (1.0, 1024))
            used = mem_mb * frac
            mem = f"{used:.1f}MiB / {mem_mb / 1024:.2f}GiB" if mem_mb >= 1024 else f"{used:.1f}MiB / {mem_mb}MiB"
            rows.append(
                {
                    "ID": _container_id(self.s.project, svc),
                    "Name": container,
                    "CPUPerc": f"{cpu:.2f}%",
                    "MemUsage": mem,
                    "MemPerc": f"{frac * 100:.2f}%",
                    "NetIO": "1.2MB / 3.4MB",
                    "BlockIO": "12.1MB / 4.1MB",
                    "PIDs": "12",
                    "CPULimit": f"{cpus:g}",
                }
            )
        if opts.get("--format", [""])[-1] == "json":
            self.out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
            return 0
        table = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]]
        table += [
            [
                r["ID"],
                r["Name"],
                r["CPUPerc"],
                r["MemUsage"],
                r["MemPerc"],
                r["NetIO"],
                r["BlockIO"],
                r["PIDs"],
            ]
            for r in rows
        ]
        _table(table, self.out)
        return 0


def _not_found(err: TextIO, exe: str) -> int:
    err.write(
        f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{exe}": '
        "executable file not found in $PATH: unknown\n"
    )
    return 126


def _container_id(project: str, service: str) -> str:
    return hashlib.sha256(f"{project}/{service}".encode()).hexdigest()[:12]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) of a process from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1])


def _sshd_ancestors(pid: int, listener: int | None) -> list[int]:
    """sshd processes above ``pid`` (nearest first), excluding the listening sshd and anything above it."""
    found: list[int] = []
    current = pid
    while current > 1:
        stat = _proc_stat(current)
        if stat is None:
            break
        comm, ppid = stat
        if current == listener:
            break
        if comm in SSHD_COMMS and current != pid:
            found.append(current)
        current = ppid
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--state":
        sys.stderr.write("usage: docker_shim.py --state STATE_DIR <docker args>\n")
        return 2
    state = ShimState(Path(args[1]))
    docker_args = args[2:]
    state.record_command(["docker", *docker_args])
    try:
        return Shim(state).main(docker_args)
    except ShimError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
