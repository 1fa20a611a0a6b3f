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


def pytest_configure(config: Any) -> None:
    """The controller (not an xdist worker) gives the fault matrix's cases a fresh directory to record into;
    the workers inherit the environment."""
    if hasattr(config, "workerinput"):
        return
    import os
    import tempfile

    from tests.faults.matrix import RESULTS_ENV

    os.environ[RESULTS_ENV] = tempfile.mkdtemp(prefix="fault-matrix-")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
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
