"""Cold start: import time of each Lambda handler module in a fresh interpreter (what a cold Lambda pays)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from freshtrack_ops.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
#: Runs in the fresh interpreter: the import alone timed inside it, then its RSS (kB).
_PROBE = (
    "import time, pathlib\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "d = time.perf_counter() - t\n"
    "s = pathlib.Path('/proc/self/status').read_text()\n"
    "print(d, [int(l.split()[1]) for l in s.splitlines() if l.startswith('VmRSS:')][0])\n"
)


def lambda_env() -> dict[str, str]:
    """The environment a handler starts with (no moto, no credentials needed to import)."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def handler_modules() -> dict[str, list[str]]:
    """module → the tasks whose handler lives in it."""
    modules: dict[str, list[str]] = {}
    for task in TASKS.values():
        modules.setdefault(task.handler.rsplit(".", 1)[0], []).append(task.name)
    return modules


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _probe(module: str | None) -> tuple[float, float, float]:
    """(subprocess wall s, in-process import s, RSS MB) of ``python -c 'import module'``."""
    code = _PROBE.format(module=module) if module else _PROBE.replace("import {module}\n", "")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=lambda_env(), check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"import {module} failed: {proc.stderr.strip()[-400:]}")
    inner, rss_kb = proc.stdout.split()
    return wall, float(inner), int(rss_kb) / 1024


def top_imports(module: str, limit: int = 6) -> list[dict[str, Any]]:
    """``python -X importtime -c 'import module'``: the packages whose modules took the most (self) time."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=lambda_env(),
        check=False,
    )
    totals: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        root = name.strip().split(".", 1)[0]
        totals[root] = totals.get(root, 0) + int(self_us.strip())
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [{"package": name, "self_s": round(us / 1e6, 3)} for name, us in ranked]


def measure(repeat: int = 3) -> dict[str, Any]:
    """Median of ``repeat`` fresh interpreters per handler module, plus a bare interpreter for reference."""
    bare = [_probe(None) for _ in range(repeat)]
    rows: dict[str, Any] = {}
    for module, tasks in sorted(handler_modules().items()):
        probes = [_probe(module) for _ in range(repeat)]
        rows[module] = {
            "tasks": tasks,
            "import_s": round(_median([p[1] for p in probes]), 3),
            "process_wall_s": round(_median([p[0] for p in probes]), 3),
            "rss_mb": round(_median([p[2] for p in probes]), 1),
            "import_runs_s": [round(p[1], 3) for p in probes],
            "top_imports_importtime": top_imports(module),
        }
    return {
        "definition": (
            f"median of {repeat} fresh interpreters: `import <module>` timed inside the interpreter "
            "(import_s) and the whole `python -c` process (process_wall_s, includes interpreter start)"
        ),
        "repeat": repeat,
        "bare_interpreter_wall_s": round(_median([p[0] for p in bare]), 3),
        "bare_interpreter_rss_mb": round(_median([p[2] for p in bare]), 1),
        "modules": rows,
    }
