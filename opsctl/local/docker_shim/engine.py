"""The engine-wide commands: ``system df``, ``system prune`` (never ``--volumes``: refused), ``stats --no-stream``
(deterministic numbers, or a fault's memory) and
``image inspect`` of the images the host has (``images``).

``image inspect [--format TEMPLATE] IMAGE...``: IMAGE is an id (``sha256:<hex>`` or at least 12 hex digits of
it), ``<repository>@sha256:<digest>`` or ``<repository>:<tag>`` (the current local images). Without
``--format`` docker's JSON array of objects with ``Id``, ``RepoTags``, ``RepoDigests``, ``Created``,
``Architecture``, ``Os``, ``Size``; with it, the template once per image, of which the shim knows
``{{.Field}}`` and ``{{json .Field}}`` of those top-level fields (anything else is refused, so a script
cannot pass here with a template docker would read differently). An unknown image: ``Error: No such image:
IMAGE`` on stderr, exit 1, as docker (whose stdout then carries ``[]`` without ``--format``).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from typing import Any, TextIO

from opsctl.local.docker_shim import faults, images
from opsctl.local.docker_shim.args import split_opts
from opsctl.local.docker_shim.output import container_id, write_table
from opsctl.local.docker_shim.state import ShimError, ShimState, iso, now

_TEMPLATE_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z]+)\s*\}\}")

# Deterministic "usage" per service: (cpu %, memory fraction of the limit)
FAKE_USAGE: dict[str, tuple[float, float]] = {
    "backend": (12.37, 0.31),
    "worker": (4.05, 0.22),
    "postgres": (7.81, 0.43),
    "redis": (0.62, 0.04),
    "caddy": (0.18, 0.03),
}


class Engine:
    def __init__(self, state: ShimState, out: TextIO, err: TextIO) -> None:
        self.s = state
        self.out = out
        self.err = err

    def _reclaimable(self) -> bool:
        data = self.s.read()
        last_prune = max((p["ts"] for p in data["prunes"] if p.get("all")), default="")
        last_change = max([p["ts"] for p in data["pulls"]] + [b["ts"] for b in data["builds"]], default="0")
        return last_change > last_prune

    def system_df(self, args: list[str]) -> int:
        """``system df [--format json|'{{json .}}']``: the table, or docker's one JSON object per type and line
        (docker/cli formatter/disk_usage.go: the context's fields Active, Reclaimable, Size, TotalCount, Type, all
        strings; ``json`` and the template ``{{json .}}`` print the same)."""
        opts, _ = split_opts(args, frozenset({"--format"}))
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
        if opts.get("--format", [""])[-1] in ("json", "{{json .}}"):
            keys = ("Type", "TotalCount", "Active", "Size", "Reclaimable")
            self.out.writelines(
                json.dumps(dict(sorted(zip(keys, row, strict=True))), separators=(",", ":")) + "\n" for row in rows[1:]
            )
            return 0
        write_table(rows, self.out)
        return 0

    def system_prune(self, args: list[str]) -> int:
        """``system prune [-a] [-f]``; ``--volumes`` (in any form) is refused: nothing is pruned, exit 1."""
        opts, _ = split_opts(args, frozenset({"--filter"}))
        everything = "-a" in opts or "--all" in opts
        force = "-f" in opts or "--force" in opts
        if "--volumes" in opts:
            # The manual's Disk Space line has it, and on a real host it removes every volume no container uses:
            # the database's data whenever postgres is stopped. No FreshTrack Ops path may ever pass it.
            raise ShimError(
                "docker shim: REFUSED `docker system prune --volumes`: it would delete every volume no running "
                "container uses (the database's data when postgres is stopped). Nothing was pruned."
            )
        self.out.write(
            "WARNING! This will remove:\n  - all stopped containers\n"
            "  - all networks not used by at least one container\n"
        )
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
            data["prunes"].append({"ts": iso(now()), "args": args, "all": everything, "volumes": False})
            self.s.write(data)
        self.out.write(f"\nTotal reclaimed space: {reclaimed}\n")
        return 0

    def stats(self, args: list[str]) -> int:
        """``stats --no-stream [--format json] [NAME...]``: FAKE_USAGE's numbers, but a service's ``stats`` fault
        (faults.py) sets its MEM % until it restarts."""
        opts, names = split_opts(args, frozenset({"--format"}))
        limits = self.s.limits()
        memory_faults = faults.stats_faults(self.s)
        cpu_faults = faults.stats_faults(self.s, "cpu_percent")
        rows = []
        for svc in self.s.services:
            container = self.s.container(svc)
            if names and container not in names and svc not in names:
                continue
            if self.s.service_state(svc).get("state") != "running":
                continue
            cpu, frac = FAKE_USAGE.get(svc, (1.0, 0.1))
            if svc in memory_faults:
                frac = memory_faults[svc] / 100
            cpu = cpu_faults.get(svc, cpu)
            cpus, mem_mb = limits.get(svc, (1.0, 1024))
            used = mem_mb * frac
            mem = f"{used:.1f}MiB / {mem_mb / 1024:.2f}GiB" if mem_mb >= 1024 else f"{used:.1f}MiB / {mem_mb}MiB"
            rows.append(
                {
                    "ID": container_id(self.s.project, svc),
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
        write_table(table, self.out)
        return 0

    # -- images ----------------------------------------------------------------------------------
    def _inspected(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """``image inspect``'s object of every image the host has (the current local ones tagged)."""
        found: list[dict[str, Any]] = []
        for svc in self.s.services:
            current = self.s.current_image(data, svc)
            for image in images.history(data, svc):
                repository, tag = self.s.image_name(data, svc, image)
                digest = images.registry_digest(svc, image)
                generation = int(image["generation"])
                found.append(
                    {
                        "Id": images.image_id(svc, generation),
                        "RepoTags": [f"{repository}:{tag}"] if generation == int(current["generation"]) else [],
                        "RepoDigests": [f"{repository}@{digest}"] if digest else [],
                        "Created": "2026-01-01T00:00:00.000000000Z",
                        "Architecture": "amd64",
                        "Os": "linux",
                        "Size": 100_000_000 + 1_000 * generation,
                    }
                )
        return found

    @staticmethod
    def _matches(image: dict[str, Any], ref: str) -> bool:
        if re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", ref):
            return str(image["Id"]).removeprefix("sha256:").startswith(ref.removeprefix("sha256:"))
        return ref in image["RepoDigests"] or ref in image["RepoTags"]

    def image_inspect(self, args: list[str]) -> int:
        opts, refs = split_opts(args, frozenset({"-f", "--format"}))
        if not refs:
            raise ShimError('"docker image inspect" requires at least 1 argument.')
        template = (opts.get("--format") or opts.get("-f") or [""])[-1]
        if template and _TEMPLATE_FIELD.sub("", template).strip():
            raise ShimError(f"docker shim: unsupported --format template {template!r} (only {{{{.Field}}}} forms)")
        known = self._inspected(self.s.read())
        shown: list[dict[str, Any]] = []
        missing = False
        for ref in refs:
            image = next((i for i in known if self._matches(i, ref)), None)
            if image is None:
                self.err.write(f"Error: No such image: {ref}\n")
                missing = True
            else:
                shown.append(image)
        if template:
            for image in shown:
                self.out.write(_TEMPLATE_FIELD.sub(functools.partial(self._field, image), template) + "\n")
        else:
            self.out.write(json.dumps(shown, indent=4) + "\n")
        return 1 if missing else 0

    @staticmethod
    def _field(image: dict[str, Any], match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in image:
            raise ShimError(f'template: :1: executing "" at <.{name}>: map has no entry for key "{name}"')
        value = image[name]
        if match.group(1):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, list):
            return "[" + " ".join(str(v) for v in value) + "]"
        return str(value)
