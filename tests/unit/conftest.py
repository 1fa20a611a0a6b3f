"""Unit tests run in this process only: no socket of any kind (pytest-socket), not even on 127.0.0.1.

moto's ``mock_aws`` answers boto3 in-process and needs none; a test that wants a server or a host belongs in
tests/integration. Processes a test starts (shellcheck, bash) are not covered: the rule is for this process.

Fuzzing (hypothesis, docs/architecture.md#fuzzing): one profile for every property test here, derandomized (the
examples are a function of the test alone, so CI runs the same ones every time and a failure reproduces), no
deadline (two shared cores), no example database (nothing written to the work tree). Each test sets its own
``max_examples``. ``HYPOTHESIS_PROFILE=explore`` draws fresh random examples instead, for a longer local hunt.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Requesting pytest-socket's ``socket_disabled`` blocks ``socket.socket`` (every family) and name lookups
    from this test's setup (fixtures included) to its teardown."""
