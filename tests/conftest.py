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


# -- the fault matrix (tests/faults, docs/reliability.md) -----------------------------------------------------
def _fault_matrix_configure(config: Any) -> None:
    """The controller (not an xdist worker) gives the fault matrix's cases a fresh directory to record into;
    the workers inherit the environment."""
    if hasattr(config, "workerinput"):
        return
    import os
    import tempfile

    from tests.faults.matrix import RESULTS_ENV

    os.environ[RESULTS_ENV] = tempfile.mkdtemp(prefix="fault-matrix-")


def _fault_matrix_finish(session: Any, exitstatus: int) -> None:
    """After a passing run of every fault case, docs/reliability.md's table is rewritten from their records (a
    partial or failing run leaves it as it is)."""
    if hasattr(session.config, "workerinput"):
        return
    import os
    import shutil
    from pathlib import Path

    from tests.faults import matrix

    directory = Path(os.environ.get(matrix.RESULTS_ENV, ""))
    if not directory.name or not directory.is_dir():
        return
    rows = matrix.load(directory)
    if exitstatus == 0 and rows and {row.case for row in rows} == matrix.case_names():
        matrix.write_doc(rows)
    shutil.rmtree(directory, ignore_errors=True)


# -- the secrets scan (issue 17; opsctl/local/secrets_scan.py, docs/architecture.md "Secrets scan") ----------------
#: the default base of the scan's results directories (one per session; the newest few are kept)
SCAN_BASE = ".pytest_cache/secrets-scan"
_KEEP_RUNS = 5
_SCAN_DIR = "secrets_scan_dir"


def _secrets_scan_configure(config: Any) -> None:
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


def _secrets_scan_finish(session: Any, exitstatus: int) -> None:
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


# -- the session's hooks ----------------------------------------------------------------------------------------
def pytest_configure(config: Any) -> None:
    _fault_matrix_configure(config)
    _secrets_scan_configure(config)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    _secrets_scan_finish(session, exitstatus)  # first: a leak makes the run a failing one
    _fault_matrix_finish(session, int(session.exitstatus))
