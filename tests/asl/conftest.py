"""The ASL tests read files and build dicts: no socket of any kind (pytest-socket), as in tests/unit."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Requesting pytest-socket's ``socket_disabled`` blocks sockets from this test's setup to its teardown."""
