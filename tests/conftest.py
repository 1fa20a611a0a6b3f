"""How pytest-xdist spreads the suite (``make test`` runs two workers).

A test module's fixtures are module- or session-scoped (a local plane costs ~15 s to build, the CDK synth of
the infra suite ~1 min), so each module runs whole, in order, on one worker, and the infra suite, which shares one
session synth, runs on a single worker. This used to be ``--dist loadgroup`` with an ``xdist_group`` mark per
module; with pytest 9.2 and xdist 3.8 the marks group nothing (xdist renames ``item._nodeid`` and pytest 9 no longer
reads it: measured, every module's tests alternated between the workers, each building its own plane, and a test
that relied on an earlier one of its module ran first elsewhere). So the scheduler itself says what a unit is.
"""

from __future__ import annotations

from typing import Any


def unit_of_work(nodeid: str) -> str:
    """The scope a test runs in with the rest of: its module, or the whole infra suite."""
    path = nodeid.split("::", 1)[0]
    return "tests/infra" if path.startswith("tests/infra/") else path


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """LoadScope's scheduling (whole scopes to a worker, in order) with ``unit_of_work`` as the scope."""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    return ModuleScheduling(config, log)


# -- the secrets scan (issue 17; opsctl/local/secrets_scan.py, docs/architecture.md "Secrets scan") ----------------
#: the default base of the scan's results directories (one per session; the newest few are kept)
SCAN_BASE = ".pytest_cache/secrets-scan"
_KEEP_RUNS = 5
_SCAN_DIR = "secrets_scan_dir"


def pytest_configure(config: Any) -> None:
    """The controller (or the only process) makes this session's results directory and names it in
    ``FTOPS_SECRETS_SCAN``: every local plane started from now on, in this process, in the xdist workers it spawns
    and in their subprocesses (the local daemon), scans for secrets when it stops and writes its results there."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: its environment names the controller's directory
    import os
    import time
    from pathlib import Path

    from opsctl.local.secrets_scan import RESULTS_DIR_ENV

    base = Path(os.environ.get(RESULTS_DIR_ENV) or Path(config.rootpath) / SCAN_BASE)
    run = base / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir(parents=True, exist_ok=True)
    for stale in sorted(base.glob("run-*"))[:-_KEEP_RUNS]:
        import shutil

        shutil.rmtree(stale, ignore_errors=True)
    os.environ[RESULTS_DIR_ENV] = str(run)
    setattr(config, _SCAN_DIR, run)


def _scan_summary(config: Any) -> Any:
    from opsctl.local.secrets_scan import write_summary

    run = getattr(config, _SCAN_DIR, None)
    if run is None or not any(run.glob("plane-*.json")):
        return None
    return write_summary(run)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """A leak fails the run even where no test saw it fail (a plane in a subprocess: the local daemon's)."""
    found = _scan_summary(session.config)
    if found is not None and (found[0].hits or found[0].errors) and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    found = _scan_summary(config)
    if found is None:
        return
    summary, path = found
    leaking = bool(summary.hits or summary.errors)
    terminalreporter.write_line(f"{summary.line()} (results: {path})", red=leaking, green=not leaking, bold=leaking)
    for plane in summary.leaking:
        terminalreporter.write_line(f"secrets scan: LEAK in the plane of {plane} (see its results)", red=True)
