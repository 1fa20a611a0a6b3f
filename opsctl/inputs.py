"""Every workflow's execution input model, by workflow name (the CLI, the docs and the tests share it)."""

from __future__ import annotations

from pydantic import BaseModel

from freshtrack_ops.daily.models import DailyCheckRequest
from freshtrack_ops.dr.models import CaptureConfigRequest, DisasterRecoveryRequest
from freshtrack_ops.fleet.models import FleetUpdateRequest
from freshtrack_ops.maintenance.models import DbPoolRequest, OsUpdateRequest, RotateSecretsRequest, ScaleRequest
from freshtrack_ops.models import BackupRequest, DropAsidesRequest, RestoreRequest, TestRestoreRequest
from freshtrack_ops.remediation.models import RemediationRequest
from freshtrack_ops.service.models import ServiceRequest
from freshtrack_ops.update.models import RollbackRequest, UpdateRequest

INPUT_MODELS: dict[str, type[BaseModel]] = {
    "backup": BackupRequest,
    "test-restore": TestRestoreRequest,
    "restore": RestoreRequest,
    "update": UpdateRequest,
    "update-fleet": FleetUpdateRequest,
    "rollback": RollbackRequest,
    "disaster-recovery": DisasterRecoveryRequest,
    "capture-config": CaptureConfigRequest,
    "remediation": RemediationRequest,
    "daily-check": DailyCheckRequest,
    "service": ServiceRequest,
    "os-update": OsUpdateRequest,
    "rotate-secrets": RotateSecretsRequest,
    "db-pool": DbPoolRequest,
    "scale": ScaleRequest,
    "drop-asides": DropAsidesRequest,
}
