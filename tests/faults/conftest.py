"""The fault matrix's fixtures: a lean plane per module (the integration tests' ``sshd_plane``: 2,000 readings, a
fault case needs a real database, not a big one; the update and maintenance modules build theirs from
``update_plane``) and the integration tests' transport parameter and IAM check."""

from collections.abc import Iterator

import pytest

from opsctl.local.plane import LocalPlane
from tests.integration.conftest import _no_iam_denials, host_name, sshd_plane

__all__ = ["_no_iam_denials", "host_name", "plane"]


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    with sshd_plane() as local_plane:
        yield local_plane
