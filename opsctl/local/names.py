"""The local plane's account, region and resource names (fixed: one plane per process at a time)."""

from __future__ import annotations

import hashlib

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "freshtrack-ops-backups-local"
TABLE = "freshtrack-ops-local"
TARGETS_PARAMETER = "/freshtrack-ops/local/targets"
TOPIC = "freshtrack-ops-local-notifications"
#: the SQS queue subscribed to the topic, so the plane can read back what was published
NOTIFICATION_QUEUE = "ftops-local-notifications"
FUNCTION_PREFIX = "ftops-local-"
STATE_MACHINE_PREFIX = "ftops-local-"
TASK_ROLE = "ftops-local-task-role"
SSM_DOCUMENT_PREFIX = "Local-"
SSM_OUTPUT_PREFIX = "ssm-output"


def instance_id_for(host: str) -> str:
    """A stable managed-instance id (mi-…) for a local host reached through SSM."""
    return "mi-" + hashlib.sha256(host.encode()).hexdigest()[:17]


def function_name(task: str) -> str:
    """The Lambda function of a ``TASKS`` entry."""
    return FUNCTION_PREFIX + task


def function_arn(task: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name(task)}"
