"""Cold start: import time of each Lambda handler module in a fresh interpreter (what a cold Lambda pays).

The probe runs with the environment a deployed function starts with: the variables Lambda sets (``LAMBDA_TASK_ROOT``
and the X-Ray daemon's address among them) and the function factory's, and tracing active as deployed
(``Tracing.ACTIVE``: Powertools' Tracer patches the modules it traces while the handler module is imported, and the
X-Ray SDK runs in its Lambda mode). Without ``LAMBDA_TASK_ROOT`` the SDK builds its centralized sampler with two
botocore clients at import (about 0.1 s that no Lambda pays), and with ``POWERTOOLS_TRACE_DISABLED`` nothing is
patched (which every Lambda does pay): either would misstate a cold start.

Not counted in ``import_s``: what the first invocation adds (``reference.first_aws_client``: boto3 and one
client, which nearly every task creates), and compiling the dependencies: the probe uses the virtualenv's ``.pyc``
files while the deployed asset ships none (``stacks/function_factory.py``: ``pip --no-compile``, ``__pycache__``
left out), so a real cold start compiles every module it imports outside the standard library
(``import_no_pyc_s``, one run per module).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from freshtrack_ops.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
#: issue 15: each handler module imports in at most this long in a fresh interpreter (median of the runs)
TARGET_S = 0.30
#: what every handler module imports first: Powertools' Logger, Metrics and Tracer
FLOOR_MODULE = "freshtrack_ops.observability"
#: what every handler module that makes AWS calls imports: the clients' module, which has the Tracer patch botocore
AWS_FLOOR_MODULE = "freshtrack_ops.runtime"
#: Runs in the fresh interpreter: the import alone timed inside it (wall, then CPU), its RSS (kB) and how many
#: modules it holds.
_PROBE = (
    "import time, pathlib, sys\n"
    "t, c = time.perf_counter(), time.process_time()\n"
    "import {module}\n"
    "d, u = time.perf_counter() - t, time.process_time() - c\n"
    "s = pathlib.Path('/proc/self/status').read_text()\n"
    "print(d, u, [int(l.split()[1]) for l in s.splitlines() if l.startswith('VmRSS:')][0], len(sys.modules))\n"
)
#: After the AWS floor: what the first invocation of nearly every task adds (boto3 and its first client).
_FIRST_CLIENT = (
    "import time\n"
    f"import {AWS_FLOOR_MODULE}\n"
    "t = time.perf_counter()\n"
    "import boto3\n"
    "boto3.session.Session().client('dynamodb')\n"
    "print(time.perf_counter() - t)\n"
)
#: the variables the function factory gives every function (stacks/function_factory.py POWERTOOLS_ENV)
FUNCTION_ENV = {
    "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
    "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def lambda_env() -> dict[str, str]:
    """The environment a deployed handler starts with: tracing active, no credentials needed to import.

    The caller's AWS_*/POWERTOOLS_*/X-Ray variables are dropped (a ``POWERTOOLS_TRACE_DISABLED`` from a local plane
    or a test must not leak in); the X-Ray daemon is loopback (nothing is sent while importing)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN", "_AWS_XRAY", "LAMBDA_"))
    }
    return {
        **inherited,
        **FUNCTION_ENV,
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": "freshtrack-ops-startup-probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
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


def _run(code: str, *flags: str) -> str:
    proc = subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, env=lambda_env(), check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def _probe(module: str | None, *flags: str) -> tuple[float, float, float, int, float]:
    """(subprocess wall s, in-process import s, RSS MB, modules loaded, import CPU s) of ``python -c 'import
    module'``."""
    code = _PROBE.format(module=module) if module else _PROBE.replace("import {module}\n", "")
    started = time.perf_counter()
    out = _run(code, *flags)
    wall = time.perf_counter() - started
    inner, cpu, rss_kb, loaded = out.strip().splitlines()[-1].split()
    return wall, float(inner), int(rss_kb) / 1024, int(loaded), float(cpu)


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


def _stdlib_only_cache(cache: Path, modules: list[str]) -> None:
    """Fill ``cache`` (a ``pycache_prefix``) with the standard library's bytecode for ``modules`` and nothing else:
    as in Lambda, whose runtime has its standard library compiled while the asset has no ``.pyc``."""
    env = {key: value for key, value in lambda_env().items() if key != "PYTHONDONTWRITEBYTECODE"}
    code = "".join(f"import {module}\n" for module in modules)
    subprocess.run(
        [sys.executable, "-X", f"pycache_prefix={cache}", "-c", code], env=env, check=True, capture_output=True
    )
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    keep = cache / stdlib.relative_to(stdlib.anchor)
    for path in sorted(cache.rglob("*.pyc")):
        if keep not in path.parents:
            path.unlink()


def _reference(repeat: int) -> dict[str, Any]:
    """What every handler pays besides its own modules, and what ``import_s`` leaves out."""
    floor = [_probe(FLOOR_MODULE) for _ in range(repeat)]
    aws_floor = [_probe(AWS_FLOOR_MODULE) for _ in range(repeat)]
    first_client = [float(_run(_FIRST_CLIENT).strip().splitlines()[-1]) for _ in range(repeat)]
    return {
        "floor": {
            "module": FLOOR_MODULE,
            "import_s": round(_median([p[1] for p in floor]), 3),
            "modules_loaded": floor[0][3],
        },
        "aws_floor": {
            "module": AWS_FLOOR_MODULE,
            "import_s": round(_median([p[1] for p in aws_floor]), 3),
            "modules_loaded": aws_floor[0][3],
        },
        "first_aws_client": {
            "what": f"after `import {AWS_FLOOR_MODULE}`: `import boto3` and one client (what a task's first call adds)",
            "s": round(_median(first_client), 3),
        },
    }


def targets(rows: dict[str, Any]) -> list[dict[str, str]]:
    """One target per handler module (median import ≤ TARGET_S) and one for all of them."""
    out = [
        {
            "target": f"`{module}` imports in ≤ {TARGET_S:.2f} s (median, fresh interpreter, traced as deployed)",
            "measured": f"{row['import_s']:.3f} s",
            "result": "PASS" if row["import_s"] <= TARGET_S else "**MISS**",
        }
        for module, row in rows.items()
    ]
    slowest = max(rows, key=lambda module: rows[module]["import_s"])
    within = sum(1 for row in rows.values() if row["import_s"] <= TARGET_S)
    out.append(
        {
            "target": f"every handler module imports in ≤ {TARGET_S:.2f} s",
            "measured": f"{within}/{len(rows)} within; slowest `{slowest}` {rows[slowest]['import_s']:.3f} s",
            "result": "PASS" if within == len(rows) else "**MISS**",
        }
    )
    return out


def asset_targets(asset: dict[str, Any]) -> list[dict[str, str]]:
    """The target as deployed: every handler module from the asset (python3.12, its .pyc) within TARGET_S."""
    rows: dict[str, Any] = asset.get("modules", {})
    if not rows:
        return []
    slowest = max(rows, key=lambda module: rows[module]["pyc_s"])
    within = sum(1 for row in rows.values() if row["pyc_s"] <= TARGET_S)
    before = max(row["no_pyc_s"] for row in rows.values())
    return [
        {
            "target": (
                f"as deployed (the asset, python3.12, its .pyc): every handler module imports in ≤ {TARGET_S:.2f} s"
            ),
            "measured": (
                f"{within}/{len(rows)} within; slowest `{slowest}` {rows[slowest]['pyc_s']:.3f} s "
                f"(without the .pyc the slowest took {before:.3f} s)"
            ),
            "result": "PASS" if within == len(rows) else "**MISS**",
        }
    ]


def deployed_asset(modules: list[str], repeat: int) -> dict[str, Any]:
    """Each handler module imported from the Lambda asset as the function factory builds it (cp312 wheels, our
    package, the bytecode python3.12 compiles), by python3.12 with nothing else on its path and nothing written
    (``PYTHONDONTWRITEBYTECODE``: /var/task is read-only): median of ``repeat`` runs with the asset's .pyc
    (``pyc_s``, what a cold start pays now) and one run with them removed (``no_pyc_s``, what it paid before)."""
    from stacks.function_factory import PipLocalBundling, bytecode_interpreter

    interpreter = bytecode_interpreter()
    if interpreter is None:
        return {"note": "no python3.12 here: the deployed asset could not be measured"}
    with tempfile.TemporaryDirectory(prefix="startup-asset-") as out:
        PipLocalBundling().try_bundle(out)
        env = {**lambda_env(), "PYTHONPATH": out, "PYTHONDONTWRITEBYTECODE": "1"}

        def probe(module: str) -> float:
            proc = subprocess.run(
                [interpreter, "-c", _PROBE.format(module=module)],
                env=env,
                capture_output=True,
                text=True,
                cwd=out,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{module} from the asset: {proc.stderr[-500:]}")
            return float(proc.stdout.split()[0])

        size_mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 1e6
        rows = {module: {"pyc_s": round(_median([probe(module) for _ in range(repeat)]), 3)} for module in modules}
        for cached in list(Path(out).rglob("*.pyc")):
            cached.unlink()
        source_mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 1e6
        for module in modules:
            rows[module]["no_pyc_s"] = round(probe(module), 3)
    return {
        "python": interpreter,
        "asset_mb": round(size_mb, 1),
        "asset_without_pyc_mb": round(source_mb, 1),
        "modules": rows,
    }


def _loadavg() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def measure(repeat: int = 3) -> dict[str, Any]:
    """Median of ``repeat`` fresh interpreters per handler module, plus a bare interpreter and the references;
    one more run per module without the dependencies' and our ``.pyc`` (``import_no_pyc_s``, as the asset ships)."""
    load_before = _loadavg()
    modules = handler_modules()
    bare = [_probe(None) for _ in range(repeat)]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="startup-stdlib-pyc-") as cache:
        _stdlib_only_cache(Path(cache), sorted(modules))
        for module, tasks in sorted(modules.items()):
            probes = [_probe(module) for _ in range(repeat)]
            rows[module] = {
                "tasks": tasks,
                "import_s": round(_median([p[1] for p in probes]), 3),
                "import_cpu_s": round(_median([p[4] for p in probes]), 3),
                "process_wall_s": round(_median([p[0] for p in probes]), 3),
                "rss_mb": round(_median([p[2] for p in probes]), 1),
                "modules_loaded": probes[0][3],
                "import_runs_s": [round(p[1], 3) for p in probes],
                "import_no_pyc_s": round(_probe(module, "-X", f"pycache_prefix={cache}")[1], 3),
                "top_imports_importtime": top_imports(module),
            }
    reference = _reference(repeat)
    asset = deployed_asset(sorted(modules), repeat)
    return {
        "deployed_asset": asset,
        "definition": (
            f"median of {repeat} fresh interpreters: `import <module>` timed inside the interpreter "
            "(import_s; import_cpu_s its CPU time, which a loaded machine inflates less) and the whole `python -c` "
            "process (process_wall_s, includes interpreter start), with a deployed function's environment and "
            "tracing active (botocore is patched at import where a module makes AWS calls); "
            "import_no_pyc_s: one run with only the standard library compiled, as in the deployed asset"
        ),
        "repeat": repeat,
        "target_s": TARGET_S,
        "loadavg": {"before": load_before, "after": _loadavg()},
        "bare_interpreter_wall_s": round(_median([p[0] for p in bare]), 3),
        "bare_interpreter_rss_mb": round(_median([p[2] for p in bare]), 1),
        "reference": reference,
        "modules": rows,
        "targets": targets(rows) + asset_targets(asset),
    }
