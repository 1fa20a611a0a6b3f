"""How the in-process tasks are configured: their Settings through ``runtime.configure``, and the little that
stays in the process environment because libraries read it from there themselves.

A deployed function gets both from its environment (CDK sets it). In the plane's process the environment is
shared with everything else (pytest, the demo, other planes before this one), so the tasks' own settings
are handed over explicitly and only boto3's credentials and region (which moto needs as well) and
powertools' variables are set in ``os.environ``, and restored when the plane stops.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from freshtrack_ops import runtime
from opsctl.local.names import BUCKET, REGION, SSM_DOCUMENT_PREFIX, SSM_OUTPUT_PREFIX, TABLE, TARGETS_PARAMETER


def library_environment(log_level: str) -> dict[str, str]:
    """What boto3 (and moto) and powertools read from the environment themselves."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "freshtrack-ops",
        "POWERTOOLS_METRICS_NAMESPACE": "FreshTrackOps",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": log_level,
    }


class EnvironmentOverlay:
    """Variables set in ``os.environ`` for a while; ``restore`` puts back what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


class TaskSettings:
    """The tasks' Settings (what CDK puts in a deployed function's environment), completed as the plane
    creates the resources they name; every change is handed to ``runtime.configure`` at once."""

    def __init__(self, *, part_size_mb: int, presign_validity_s: int) -> None:
        self.current = runtime.Settings(
            backup_bucket=BUCKET,
            ops_table=TABLE,
            targets_parameter=TARGETS_PARAMETER,
            part_size_mb=part_size_mb,
            ssm_document_prefix=SSM_DOCUMENT_PREFIX,
            ssm_output_prefix=SSM_OUTPUT_PREFIX,
            presign_validity_s=presign_validity_s,
        )

    def apply(self, **changes: str) -> None:
        """Configure the tasks with the current settings plus ``changes`` (validated like the environment)."""
        self.current = runtime.Settings.model_validate(self.current.model_dump() | changes)
        runtime.configure(self.current)

    @staticmethod
    def clear() -> None:
        """Back to environment-based settings (whatever configures the process next)."""
        runtime.configure(None)
