"""Every host step, one instance each, by the name pending commands, jobs and undo entries record."""

from __future__ import annotations

from typing import Any

from freshtrack_ops.steps.backup import DumpStep, PreflightStep
from freshtrack_ops.steps.base import AnyStep, DataStep
from freshtrack_ops.steps.daily import DailyCollectStep
from freshtrack_ops.steps.dr import BootstrapStep, CaptureConfigStep
from freshtrack_ops.steps.job_poll import JobPollStep
from freshtrack_ops.steps.maintenance import PoolStep, RotationStep
from freshtrack_ops.steps.maintenance_os import HostProbeStep, OsRebootStep, OsUpgradeStep
from freshtrack_ops.steps.remediation import RemediationActStep, RemediationCheckStep
from freshtrack_ops.steps.restore import CountsStep, DatabaseStep, HealthStep, LoadStep, ServicesStep, VerifyStep
from freshtrack_ops.steps.service import ServiceActStep
from freshtrack_ops.steps.update import (
    CheckoutStep,
    DeployStep,
    DownStep,
    ImagesStep,
    PinImagesStep,
    SchemaStep,
    UpdatePreflightStep,
    VerifyDeploymentStep,
)

PREFLIGHT = PreflightStep()
DUMP = DumpStep()
VERIFY = VerifyStep()
LOAD = LoadStep()
DATABASE = DatabaseStep()
COUNTS = CountsStep()
SERVICES = ServicesStep()
HEALTH = HealthStep()
JOB_POLL = JobPollStep()
UPDATE_PREFLIGHT = UpdatePreflightStep()
SCHEMA = SchemaStep()
CHECKOUT = CheckoutStep()
DEPLOY = DeployStep()
VERIFY_DEPLOYMENT = VerifyDeploymentStep()
DOWN = DownStep()
IMAGES = ImagesStep()
PIN_IMAGES = PinImagesStep()
DR_CAPTURE_CONFIG = CaptureConfigStep()
DR_BOOTSTRAP = BootstrapStep()
REMEDIATION_ACT = RemediationActStep()
REMEDIATION_CHECK = RemediationCheckStep()
DAILY_COLLECT = DailyCollectStep()
SERVICE_ACT = ServiceActStep()
DB_POOL = PoolStep()
ROTATE_SECRETS = RotationStep()
OS_UPGRADE = OsUpgradeStep()
OS_REBOOT = OsRebootStep()
HOST_PROBE = HostProbeStep()

DATA_STEPS: dict[str, DataStep[Any, Any, Any]] = {step.name: step for step in (DUMP, VERIFY, LOAD, DEPLOY)}
STEPS: dict[str, AnyStep] = {
    step.name: step
    for step in (
        PREFLIGHT,
        DUMP,
        VERIFY,
        LOAD,
        DATABASE,
        COUNTS,
        SERVICES,
        HEALTH,
        JOB_POLL,
        UPDATE_PREFLIGHT,
        SCHEMA,
        CHECKOUT,
        DEPLOY,
        VERIFY_DEPLOYMENT,
        DOWN,
        IMAGES,
        PIN_IMAGES,
        DR_CAPTURE_CONFIG,
        DR_BOOTSTRAP,
        REMEDIATION_ACT,
        REMEDIATION_CHECK,
        DAILY_COLLECT,
        SERVICE_ACT,
        DB_POOL,
        ROTATE_SECRETS,
        OS_UPGRADE,
        OS_REBOOT,
        HOST_PROBE,
    )
}
