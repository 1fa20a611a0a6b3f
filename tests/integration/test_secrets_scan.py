"""The secrets scan on a real plane (issue 17; docs/architecture.md "Secrets scan").

Every plane of the test session scans when it stops (tests/conftest.py names the results directory): a leak fails
the module's teardown. Here: a run over both transports scans clean, searching for every kind of secret in every kind
of place. test_secrets_scan_leaks.py: a leak fails a plane's stop. That no SSM command parameter grants read of a
backup (the presigned URLs reach the host in an exchange object only its role may read) is
test_ssm_workflows.py::test_no_command_parameter_grants_access_to_a_backup."""

from __future__ import annotations

import pytest

from opsctl.local.plane import LocalPlane
from opsctl.local.secrets_scan import (
    DATABASE_PASSWORD,
    DYNAMODB_ITEM,
    GRAFANA_KEY,
    HISTORY,
    JWT_SECRET,
    LAMBDA_RESPONSE,
    LOG_LINE,
    NOTIFICATION,
    PRESIGNED_URL,
    S3_KEY,
    SSH_COMMAND,
    SSH_PRIVATE_KEY,
    SSM_PARAMETERS,
    WEBHOOK_TOKEN,
)

pytestmark = pytest.mark.integration

HOST = "demo-ssm"


def test_a_run_over_both_transports_scans_clean(plane: LocalPlane) -> None:
    """A backup and a test restore over SSH and over SSM: every secret the run made is searched for in every
    place, and none is found, the SSM commands' parameters included."""
    for host in ("demo", HOST):
        backup = plane.run("backup", {"host": host, "reason": "secrets scan"})
        assert backup.status == "SUCCEEDED" and backup.output is not None, backup.cause
        check = plane.run("test-restore", {"host": host, "backup_id": backup.output["backup_id"]})
        assert check.status == "SUCCEEDED", check.cause

    report = plane.secrets_scan_report()

    assert report.ok, report.failure()
    assert report.known == [], "nothing is excused: the switch for the known finding is off"
    # it searched for what the run made ...
    made = {SSH_PRIVATE_KEY, DATABASE_PASSWORD, JWT_SECRET, WEBHOOK_TOKEN, GRAFANA_KEY, PRESIGNED_URL}
    assert made <= set(report.secrets_by_kind), report.secrets_by_kind
    assert report.secrets_by_kind[PRESIGNED_URL] >= 4, "the SSM upload's part URLs, the verification's GET"
    # ... where the run wrote
    for category in (
        HISTORY,
        LOG_LINE,
        NOTIFICATION,
        S3_KEY,
        DYNAMODB_ITEM,
        SSM_PARAMETERS,
        LAMBDA_RESPONSE,
        SSH_COMMAND,
    ):
        assert report.places.get(category, 0) > 0, category
