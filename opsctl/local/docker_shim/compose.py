"""``docker compose``: the subset the operations manual uses (ps, stop, start, restart, up, down, logs, pull,
build, images, config --images, exec, version) over the shim's state; ``exec`` in the postgres service runs the
cluster's real tools. The compose files are read for image pins only (``images``).

``compose images [--format json] [SERVICE...]`` lists one row per service, in the services' order. Compose's
own JSON (``cmd/compose/images.go``) has ``ID`` (the id of the image the container runs: an image id, not a
registry digest), ``ContainerName``, ``Repository``, ``Tag``, ``Platform``, ``Size``; the shim adds
``Service``, ``Digest`` and ``Generation`` (the service's local image, which its next container runs unless
pinned: a registry digest for a pulled image, the shim's own identity for a built one) and ``RunningDigest``
(the same of the image the container runs; "" without a container, when compose would list no row and the
shim shows the local image's ``ID``). ``--format json`` prints ONE line, a JSON array. Without it a table:
``CONTAINER REPOSITORY TAG IMAGE ID DIGEST`` (docker's header: IMAGE ID is two words), cells separated by runs
of spaces (no cell holds a space); ``-q``: the ids without their ``sha256:``, each once, as compose prints them.

Monitoring mode (the local plane's ``monitoring``; ``monitoring.backend_control``): when the state dir holds
``monitoring.json``, the ``backend`` container is a real process. ``start``/``up`` start it when it does not run,
``restart`` and a recreating ``up`` start it anew, ``stop``/``down`` stop it (SIGTERM, wait); each command returns
once the process listens, as compose returns once the container runs. Without the file nothing of this happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from opsctl.local.docker_shim import faults, images
from opsctl.local.docker_shim.args import compose_global_files, compose_subcommand, parse_since, split_opts
from opsctl.local.docker_shim.output import container_id, human_duration, not_found, render_template, write_table
from opsctl.local.docker_shim.state import BUILT_SERVICES, ShimError, ShimState, image_digest, iso, now
from opsctl.local.monitoring import backend_control

PG_TOOLS = frozenset(
    {"psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_isready", "createdb", "dropdb", "createuser",
     "dropuser", "vacuumdb", "reindexdb", "pg_ctl"}
)  # fmt: skip


class Compose:
    def __init__(self, state: ShimState, out: TextIO, err: TextIO) -> None:
        self.s = state
        self.out = out
        self.err = err
        self.files: list[str] = []

    def main(self, args: list[str]) -> int:
        sub, rest = compose_subcommand(args)
        self.files = compose_global_files(args)
        faults.check_compose(self.s, sub)
        handlers: dict[str, Callable[[list[str]], int]] = {
            "ps": self.compose_ps,
            "stop": self.compose_stop,
            "start": self.compose_start,
            "restart": self.compose_restart,
            "up": self.compose_up,
            "down": self.compose_down,
            "logs": self.compose_logs,
            "pull": self.compose_pull,
            "build": self.compose_build,
            "images": self.compose_images,
            "config": self.compose_config,
            "exec": self.compose_exec,
            "version": self.compose_version,
        }
        handler = handlers.get(sub)
        if handler is None:
            raise ShimError(f"docker shim: unsupported compose command: {sub}")
        return handler(rest)

    def compose_version(self, _args: list[str]) -> int:
        self.out.write("Docker Compose version v2.29.0-opsctl-shim\n")
        return 0

    def _ps_rows(self, names: list[str]) -> list[dict[str, Any]]:
        data = self.s.read()
        rows: list[dict[str, Any]] = []
        current = now()
        for svc in names:
            entry = data["services"].get(svc, {"state": "exited", "since": current, "exit_code": 0})
            running = entry["state"] == "running"
            health = "healthy" if running and svc in {"backend", "postgres", "redis"} else ""
            age = human_duration(current - float(entry["since"]))
            if running:
                status = f"Up {age}" + (f" ({health})" if health else "")
            else:
                status = f"Exited ({entry.get('exit_code', 0)}) {age} ago"
            rows.append(
                {
                    "ID": container_id(self.s.project, svc),
                    "Name": self.s.container(svc),
                    "Service": svc,
                    "Project": self.s.project,
                    "Image": ":".join(self.s.image_name(data, svc, entry.get("image"))),
                    "State": "running" if running else "exited",
                    "Status": status,
                    "Health": health,
                    "ExitCode": 0 if running else int(entry.get("exit_code", 0)),
                    "Publishers": [],
                }
            )
        return rows

    def compose_ps(self, args: list[str]) -> int:
        opts, names = split_opts(args, frozenset({"--format", "--filter", "--status"}))
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
        if "{{" in opts.get("--format", [""])[-1]:
            self.out.writelines(render_template(opts["--format"][-1], r) + "\n" for r in rows)
            return 0
        table = [["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"]]
        table += [[r["Name"], r["Image"], r["Service"], r["Status"], ""] for r in rows]
        write_table(table, self.out)
        return 0

    def _transition(self, names: list[str], state: str, verb: str) -> int:
        with self.s.locked():
            data = self.s.read()
            for svc in names:
                self.err.write(f" Container {self.s.container(svc)}  {verb}ing\n")
                self.s.set_service(data, svc, state)
                self.err.write(f" Container {self.s.container(svc)}  {verb}ed\n")
            self.s.write(data)
        self._follow_backend(restarted=False)
        return 0

    def _follow_backend(self, *, restarted: bool) -> None:
        """Monitoring mode: the backend process follows the backend container (after state.json is written, and
        outside its lock: the process reads it)."""
        try:
            running = self.s.service_state("backend").get("state") == "running"
            backend_control.follow(self.s.dir, service_running=running, restarted=restarted)
        except (OSError, RuntimeError) as exc:
            raise ShimError(f"Error response from daemon: backend: {exc}") from exc

    def compose_stop(self, args: list[str]) -> int:
        _opts, names = split_opts(args, frozenset({"-t", "--timeout"}))
        return self._transition(self.s.check_services(names), "exited", "Stopp")

    def compose_start(self, args: list[str]) -> int:
        _opts, names = split_opts(args, frozenset())
        return self._transition(self.s.check_services(names), "running", "Start")

    def compose_restart(self, args: list[str]) -> int:
        _opts, names = split_opts(args, frozenset({"-t", "--timeout"}))
        targets = self.s.check_services(names)
        with self.s.locked():
            data = self.s.read()
            for svc in targets:
                self.err.write(f" Container {self.s.container(svc)}  Restarting\n")
                self.s.set_service(data, svc, "exited")
                self.s.set_service(data, svc, "running")
                self.err.write(f" Container {self.s.container(svc)}  Started\n")
            self.s.write(data)
        self._follow_backend(restarted="backend" in targets)
        return 0

    def compose_up(self, args: list[str]) -> int:
        """Start the services; a container whose image changed since it was created is recreated."""
        opts, names = split_opts(args, frozenset({"-t", "--timeout", "--scale", "--wait-timeout", "--pull"}))
        targets = self.s.check_services(names)
        force = "--force-recreate" in opts
        started: set[str] = set()
        with self.s.locked():
            data = self.s.read()
            # postgres first, like depends_on
            pinned = self.pins()
            for svc in sorted(targets, key=lambda s: s != "postgres"):
                entry = data["services"].get(svc, {})
                image = self.next_image(data, svc, pinned)
                same_image = entry.get("image") == image
                if entry.get("state") == "running" and same_image and not force:
                    self.err.write(f" Container {self.s.container(svc)}  Running\n")
                    continue
                if entry.get("state") == "running":
                    self.err.write(f" Container {self.s.container(svc)}  Recreate\n")
                    self.s.set_service(data, svc, "exited")
                self.s.set_service(data, svc, "running")
                data["services"][svc]["image"] = image
                started.add(svc)
                self.err.write(f" Container {self.s.container(svc)}  Started\n")
            self.s.write(data)
        self._follow_backend(restarted="backend" in started)
        return 0

    def compose_down(self, args: list[str]) -> int:
        opts, _names = split_opts(args, frozenset({"-t", "--timeout", "--rmi"}))
        volumes = "-v" in opts or "--volumes" in opts
        with self.s.locked():
            data = self.s.read()
            for svc in sorted(self.s.services, key=lambda s: s == "postgres"):  # postgres last
                if data["services"].get(svc, {}).get("state") == "running":
                    self.s.set_service(data, svc, "exited")
                data["services"].get(svc, {}).pop("image", None)  # the container is removed
                self.err.write(f" Container {self.s.container(svc)}  Removed\n")
            data["downs"].append({"ts": iso(now()), "args": args, "volumes": volumes})
            self.s.write(data)
        self._follow_backend(restarted=False)
        if volumes:
            self.err.write("WARNING: --volumes requested: named volumes would be removed (shim keeps data)\n")
        return 0

    def compose_logs(self, args: list[str]) -> int:
        opts, names = split_opts(args, frozenset({"--since", "--until", "-n", "--tail"}))
        targets = self.s.check_services(names)
        since = parse_since(opts["--since"][-1]) if "--since" in opts else None
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
        """Pull each service's image: its next generation (a new digest); containers keep theirs until ``up``."""
        _opts, names = split_opts(args, frozenset({"--policy"}))
        pinned = self.pins()
        # a service pinned to a digest is pulled at that digest: the image the host has already
        targets = [svc for svc in self.s.check_services(names) if svc not in pinned]
        with self.s.locked():
            data = self.s.read()
            generations = {svc: self.s.next_generation(data, svc) for svc in targets}
            data["pulls"].append({"ts": iso(now()), "services": targets, "generations": generations})
            self.s.write(data)
        for svc in targets:
            self.err.write(f" {svc} Pulled\n")
        return 0

    def compose_build(self, args: list[str]) -> int:
        """Build the app's images (backend, worker) from the checked-out code: each gets its next generation and
        the release the code is (``release.json``; the version from ``APP_VERSION`` or git describe)."""
        opts, names = split_opts(args, frozenset({"--build-arg", "--progress"}))
        targets = [s for s in self.s.check_services(names) if s in BUILT_SERVICES]
        release = self.s.checked_out_release() if targets else None
        with self.s.locked():
            data = self.s.read()
            for svc in targets:
                self.s.next_generation(data, svc, release)
            data["builds"].append(
                {"ts": iso(now()), "services": targets, "no_cache": "--no-cache" in opts, "release": release}
            )
            self.s.write(data)
        for svc in targets:
            self.err.write(f" {svc}  Built\n")
        return 0

    def pins(self) -> dict[str, str]:
        """Service -> pinned ``<repository>@sha256:...`` in the compose files this call reads."""
        return images.pins(images.compose_files(self.s.app_dir(), self.files, os.environ))

    def next_image(self, data: dict[str, Any], svc: str, pinned: dict[str, str]) -> dict[str, Any]:
        """The image ``svc``'s next container is created from: the pinned one, else its local image."""
        if svc in pinned:
            return images.pinned_image(data, svc, pinned[svc])
        return dict(self.s.current_image(data, svc))

    def compose_images(self, args: list[str]) -> int:
        opts, names = split_opts(args, frozenset({"--format"}))
        targets = self.s.check_services(names)
        data = self.s.read()
        pinned = self.pins()
        rows: list[dict[str, Any]] = []
        for svc in targets:
            image = self.next_image(data, svc, pinned)
            running = data["services"].get(svc, {}).get("image")
            shown = running or image
            repository, tag = self.s.image_name(data, svc, shown)
            rows.append(
                {
                    "ID": images.image_id(svc, int(shown["generation"])),
                    "ContainerName": self.s.container(svc),
                    "Repository": repository,
                    "Tag": tag,
                    "Platform": "linux/amd64",
                    "Size": 100_000_000 + 1_000 * int(shown["generation"]),
                    "Service": svc,
                    "Digest": image_digest(svc, int(image["generation"])),
                    "Generation": int(image["generation"]),
                    "RunningDigest": image_digest(svc, int(running["generation"])) if running else "",
                }
            )
        if "-q" in opts or "--quiet" in opts:
            ids = list(dict.fromkeys(str(r["ID"]).removeprefix("sha256:") for r in rows))
            self.out.writelines(f"{i}\n" for i in ids)
        elif opts.get("--format", [""])[-1] == "json":
            self.out.write(json.dumps(rows, separators=(",", ":")) + "\n")
        else:
            table = [["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "DIGEST"]]
            table += [[r["ContainerName"], r["Repository"], r["Tag"], r["ID"][7:19], r["Digest"]] for r in rows]
            write_table(table, self.out)
        return 0

    def compose_config(self, args: list[str]) -> int:
        """``config --images``: the image each service's container is created from (the pin, else repo:tag)."""
        opts, _names = split_opts(args, frozenset({"--format", "-o", "--output", "--hash"}))
        if set(opts) != {"--images"}:
            raise ShimError(f"docker shim: unsupported compose config options: {' '.join(args)}")
        data = self.s.read()
        pinned = self.pins()
        for svc in self.s.services:
            self.out.write((pinned.get(svc) or ":".join(self.s.image_name(data, svc))) + "\n")
        return 0

    # -- exec ------------------------------------------------------------------------------------
    def compose_exec(self, args: list[str]) -> int:
        opts, rest = split_opts(args, frozenset({"-u", "--user", "-e", "--env", "-w", "--workdir", "--index"}))
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
            return not_found(self.err, argv[0])

    def _exec_postgres(self, argv: list[str], extra_env: dict[str, str]) -> int:
        pg: dict[str, Any] = self.s.host.get("pg", {})
        if not pg:
            raise ShimError("postgres is not configured in host.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGHOST": pg["socket_dir"], "PGPORT": str(pg["port"]), "PGUSER": "postgres", **extra_env})
        tool = Path(pg["bindir"]) / argv[0]
        exe = str(tool) if argv[0] in PG_TOOLS and tool.exists() else argv[0]
        fault = faults.claim(self.s, Path(argv[0]).name, argv)
        sys.stdout.flush()
        if fault:
            return faults.run_with_fault(self.s, exe, argv, env, fault, err=self.err)
        with contextlib.suppress(OSError):
            os.chdir("/")
        try:
            os.execvpe(exe, [argv[0], *argv[1:]], env)  # noqa: S606 - replaces this process on purpose
        except FileNotFoundError:
            return not_found(self.err, argv[0])
        return 0  # pragma: no cover - execvpe does not return
