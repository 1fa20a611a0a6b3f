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


#: one host per transport in every plane (LocalPlane's defaults)
TRANSPORT_HOSTS = {"ssh": "demo", "ssm": "demo-ssm"}


@pytest.fixture(scope="module", params=sorted(TRANSPORT_HOSTS))
def host_name(request: pytest.FixtureRequest) -> str:
    """The workflow tests run once per transport: over SSH ("demo") and over SSM Run Command ("demo-ssm")."""
    return TRANSPORT_HOSTS[str(request.param)]
