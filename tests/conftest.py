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
