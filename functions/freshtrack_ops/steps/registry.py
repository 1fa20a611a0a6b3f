"""Every host step, one instance each, by the name pending commands, jobs and undo entries record.

Importing this module imports every step module (tests, the docs' state map). A task function imports its own
steps from their modules, or looks one up by name in ``freshtrack_ops.steps.catalog`` (``STEPS`` here is that
catalog), which imports that step's module only.
"""

from __future__ import annotations

from freshtrack_ops.steps.backup import DUMP, PREFLIGHT
from freshtrack_ops.steps.catalog import DATA_STEPS, STEPS
from freshtrack_ops.steps.daily import DAILY_COLLECT
from freshtrack_ops.steps.dr import DR_BOOTSTRAP, DR_CAPTURE_CONFIG
from freshtrack_ops.steps.job_poll import JOB_POLL
from freshtrack_ops.steps.maintenance import DB_POOL, ROTATE_SECRETS
from freshtrack_ops.steps.maintenance_os import HOST_PROBE, OS_REBOOT, OS_UPGRADE
from freshtrack_ops.steps.remediation import REMEDIATION_ACT, REMEDIATION_CHECK
from freshtrack_ops.steps.restore import COUNTS, DATABASE, HEALTH, LOAD, SERVICES, VERIFY
from freshtrack_ops.steps.service import SERVICE_ACT
from freshtrack_ops.steps.update import (
    CHECKOUT,
    DEPLOY,
    DOWN,
    IMAGES,
    PIN_IMAGES,
    SCHEMA,
    UPDATE_PREFLIGHT,
    VERIFY_DEPLOYMENT,
)

__all__ = [
    "CHECKOUT",
    "COUNTS",
    "DAILY_COLLECT",
    "DATABASE",
    "DATA_STEPS",
    "DB_POOL",
    "DEPLOY",
    "DOWN",
    "DR_BOOTSTRAP",
    "DR_CAPTURE_CONFIG",
    "DUMP",
    "HEALTH",
    "HOST_PROBE",
    "IMAGES",
    "JOB_POLL",
    "LOAD",
    "OS_REBOOT",
    "OS_UPGRADE",
    "PIN_IMAGES",
    "PREFLIGHT",
    "REMEDIATION_ACT",
    "REMEDIATION_CHECK",
    "ROTATE_SECRETS",
    "SCHEMA",
    "SERVICES",
    "SERVICE_ACT",
    "STEPS",
    "UPDATE_PREFLIGHT",
    "VERIFY",
    "VERIFY_DEPLOYMENT",
]
