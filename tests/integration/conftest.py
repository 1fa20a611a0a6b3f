"""One local plane per test module: embedded AWS + a real PostgreSQL + a real sshd on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=20_000, use_sshd=True) as local_plane:
        yield local_plane
