"""The fault matrix's fixtures: a lean plane per module (2,000 readings: a fault case needs a real database, not a
big one; the update and maintenance modules build theirs from the integration tests' ``update_plane``) and the
integration tests' transport parameter and IAM check."""

from collections.abc import Iterator

import pytest

from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available
from tests.integration.conftest import _no_iam_denials, host_name

__all__ = ["_no_iam_denials", "host_name", "plane"]


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    if not sshd_available():
        pytest.fail("the fault matrix needs OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=2_000, use_sshd=True) as local_plane:
        yield local_plane
