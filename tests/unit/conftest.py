"""Unit tests run in this process only: no socket of any kind (pytest-socket), not even on 127.0.0.1.

moto's ``mock_aws`` answers boto3 in-process and needs none; a test that wants a server or a host belongs in
tests/integration. Processes a test starts (shellcheck, bash) are not covered: the rule is for this process.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Requesting pytest-socket's ``socket_disabled`` blocks ``socket.socket`` (every family) and name lookups
    from this test's setup (fixtures included) to its teardown."""
