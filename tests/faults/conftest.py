"""The fault matrix runs on the integration tests' planes (one per module) and their fixtures."""

from tests.integration.conftest import _no_iam_denials, host_name, plane

__all__ = ["_no_iam_denials", "host_name", "plane"]
