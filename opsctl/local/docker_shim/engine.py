"""The engine-wide commands: ``system df``, ``system prune``, ``stats --no-stream`` (deterministic numbers)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from opsctl.local.docker_shim.args import split_opts
from opsctl.local.docker_shim.output import container_id, write_table
from opsctl.local.docker_shim.state import ShimState, iso, now

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
        write_table(rows, self.out)
        return 0

    def system_prune(self, args: list[str]) -> int:
        opts, _ = split_opts(args, frozenset({"--filter"}))
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
            data["prunes"].append({"ts": iso(now()), "args": args, "all": everything, "volumes": volumes})
            self.s.write(data)
        self.out.write(f"\nTotal reclaimed space: {reclaimed}\n")
        return 0

    def stats(self, args: list[str]) -> int:
        opts, names = split_opts(args, frozenset({"--format"}))
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
