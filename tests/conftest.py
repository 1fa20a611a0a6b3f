"""Groups for pytest-xdist (``make test`` runs two workers with ``--dist loadgroup``).

A test module's fixtures are module- or session-scoped (a local plane costs ~15 s to build, the CDK synth of
the infra suite ~1 min), so each module runs whole on one worker, and the infra suite, which shares one
session synth, runs on a single worker. Without xdist the marks do nothing.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.as_posix()
        group = "infra" if "/tests/infra/" in path else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
