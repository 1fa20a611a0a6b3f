"""The shim's state files (``host.json``, ``state.json``, ``faults.json``, ``commands.log``, ``logs/``) and the
services' lifecycle over them: every mutation happens under an exclusive fcntl lock, postgres really starts
and stops.

Images: ``state.json`` ``images`` keeps one local image per service, ``{"generation": n}`` (1 when missing),
and for the services built from the app's code (``BUILT_SERVICES``) the release it was built from,
``"release": {"version": "v1.2.0", "healthy": true}``, where it came from (``"source": "pull"`` or
``"build"``) and, for a broken pulled image, ``"healthy": false``. Its registry digest is
``image_digest(service, generation)`` (deterministic; ``images.image_id`` is its id, another value).
``compose pull`` moves the pulled services to the next generation, ``compose build`` the built ones (and
records the release of the checked-out code); ``image_history`` keeps every image a service had (see
``images``). A service's entry in ``services`` carries the image its container was created from
(``"image"``): ``compose up`` (re)creates a container whose image changed, ``compose down`` removes them. The
running backend's release is the deployed one (``deployed_release``): the health endpoint answers for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_SERVICES = ("backend", "worker", "postgres", "redis", "caddy")
#: the services whose image is built from the app directory (compose ``build:``)
BUILT_SERVICES = ("backend", "worker")
APP_REPOSITORY = "ghcr.io/freshtrack/freshtrack-pro"
#: repository and tag of the services that run a base image
BASE_IMAGES: dict[str, tuple[str, str]] = {
    "postgres": ("postgres", "15-alpine"),
    "redis": ("redis", "7-alpine"),
    "caddy": ("caddy", "2-alpine"),
}
#: the file in the app directory that says which release the code is and whether its backend is healthy
RELEASE_FILE = "release.json"
# The manual's resource limits table (compose.production.yaml); the file, when parseable, wins.
DEFAULT_LIMITS: dict[str, tuple[float, int]] = {
    "backend": (2.0, 2048),
    "worker": (1.0, 1024),
    "postgres": (2.0, 2048),
    "redis": (0.5, 512),
    "caddy": (0.5, 512),
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


def read_release_file(app_dir: Path) -> dict[str, Any]:
    """The app directory's release marker (``{"version": ..., "healthy": ...}``), {} when absent or unreadable."""
    try:
        data = json.loads((app_dir / RELEASE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ShimError(Exception):
    """A docker-style failure: message to stderr, exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def now() -> float:
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def image_digest(service: str, generation: int) -> str:
    """The (deterministic) digest of generation ``generation`` of ``service``'s image."""
    return "sha256:" + hashlib.sha256(f"{service}:{generation}".encode()).hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class ShimState:
    """The shim's files in the state dir; every mutation happens under an exclusive fcntl lock."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.host: dict[str, Any] = read_json(state_dir / "host.json", {})
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
        data: dict[str, Any] = read_json(self.dir / "state.json", {})
        data.setdefault("services", {})
        data.setdefault("images", {})
        data.setdefault("image_history", {})
        data.setdefault("registry", {})
        for key in ("pulls", "builds", "prunes", "downs"):
            data.setdefault(key, [])
        return data

    def write(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.dir / "state.json", data)

    def faults(self) -> dict[str, Any]:
        data: dict[str, Any] = read_json(self.dir / "faults.json", {})
        return data

    def record_command(self, argv: Sequence[str]) -> None:
        line = json.dumps({"ts": iso(now()), "pid": os.getpid(), "argv": list(argv)}) + "\n"
        with (self.dir / "commands.log").open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line)

    def log(self, service: str, lines: Sequence[str]) -> None:
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        stamp = iso(now())
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
        if current.get("state") != state:
            self._forget_stats_fault(service)
        if service == "postgres":
            if state == "running":
                self.pg_ctl("start")
            else:
                self.pg_ctl("stop")
        entry: dict[str, Any] = {"state": state, "since": now(), "exit_code": exit_code}
        if "image" in current:  # the same container: it keeps its image
            entry["image"] = current["image"]
        data["services"][service] = entry
        if state == "running":
            self.log(service, START_LINES.get(service, ["started"]))
        elif exit_code == 0:
            self.log(service, STOP_LINES.get(service, ["stopped"]))
        else:
            self.log(service, [f"process exited with code {exit_code}"])

    def _forget_stats_fault(self, service: str) -> None:
        """A container that stops or starts is a new process: the memory a ``stats`` fault gave the old one is gone
        (faults.py). The caller holds the lock (``set_service``'s callers do)."""
        faults = self.faults()
        stats = faults.get("stats")
        if not isinstance(stats, dict) or service not in stats:
            return
        stats.pop(service)
        if not stats:
            faults.pop("stats")
        if faults:
            write_json_atomic(self.dir / "faults.json", faults)
        else:
            (self.dir / "faults.json").unlink(missing_ok=True)

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
        """``repository:tag`` of the image ``service``'s container runs (ps's IMAGE column)."""
        repository, tag = self.image_name(self.read(), service, self.service_state(service).get("image"))
        return f"{repository}:{tag}"

    # -- images and releases ---------------------------------------------------------------------
    def image_name(self, data: dict[str, Any], service: str, image: dict[str, Any] | None = None) -> tuple[str, str]:
        """(repository, tag) of ``image`` (default: the service's current local image)."""
        if service in BASE_IMAGES:
            return BASE_IMAGES[service]
        release = (image if image is not None else self.current_image(data, service)).get("release") or {}
        version = str(release.get("version") or self.app_version())
        return APP_REPOSITORY, version.removeprefix("v")

    @staticmethod
    def current_image(data: dict[str, Any], service: str) -> dict[str, Any]:
        """The service's local image (what its next container is created from)."""
        image: dict[str, Any] = data["images"].setdefault(service, {"generation": 1})
        image.setdefault("generation", 1)
        return image

    def next_generation(self, data: dict[str, Any], service: str, release: dict[str, Any] | None = None) -> int:
        """A new local image for ``service``: a build of the code ``release`` is, or (None) a pull of the
        registry's next image, which works unless the registry serves broken images now (``registry``). The
        image it replaces stays in ``image_history`` (docker keeps it, untagged, until a prune)."""
        image = self.current_image(data, service)
        history: list[dict[str, Any]] = data.setdefault("image_history", {}).setdefault(service, [])
        if all(entry.get("generation") != image["generation"] for entry in history):
            history.append(dict(image))
        updated: dict[str, Any] = {"generation": int(image["generation"]) + 1}
        updated["source"] = "pull" if release is None else "build"
        if release is not None or "release" in image:
            updated["release"] = release if release is not None else image["release"]
        if release is None and data.get("registry", {}).get(service, {}).get("healthy") is False:
            updated["healthy"] = False
        data["images"][service] = updated
        history.append(dict(updated))
        return int(updated["generation"])

    def checked_out_release(self) -> dict[str, Any]:
        """The release of the code in the app directory: the version compose tags it with (``APP_VERSION`` from
        the environment, as ``${APP_VERSION}`` in docker-compose.yml, else ``git describe --tags --always``) and
        whether its backend is healthy (``release.json``; healthy when it says nothing)."""
        version = os.environ.get("APP_VERSION", "")
        if not version:
            proc = subprocess.run(
                ["git", "describe", "--tags", "--always"],
                cwd=self.app_dir(),
                capture_output=True,
                text=True,
                check=False,
            )
            version = proc.stdout.strip() if proc.returncode == 0 else "v" + self.app_version()
        marker = read_release_file(self.app_dir())
        return {"version": version, "healthy": marker.get("healthy") is not False}

    def deployed_release(self) -> dict[str, Any] | None:
        """The release the backend container runs (None when it has no container or no release)."""
        image = self.service_state("backend").get("image")
        release = image.get("release") if isinstance(image, dict) else None
        return dict(release) if isinstance(release, dict) else None

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
