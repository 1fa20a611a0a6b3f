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
#: the launch templates of replacement hosts (``instances``): one whose instances run sshd (the key pair), one
#: whose instances run the SSM agent (the instance profile)
LAUNCH_TEMPLATE_SSH = "ftops-local-replacement-ssh"
LAUNCH_TEMPLATE_SSM = "ftops-local-replacement-ssm"
KEY_PAIR = "ftops-local-replacement"
#: the Secrets Manager secret holding the key pair's private key (what an SSH target of a replacement names)
KEY_PAIR_SECRET = "freshtrack-ops/local/replacement/ssh-key"  # noqa: S105 - a name, not a secret
INSTANCE_PROFILE = "ftops-local-instance"
#: a label: no AMI is booted (moto does not validate it unless told to)
IMAGE_ID = "ami-0f7e57a1c0ca1f000"
INSTANCE_TYPE = "t3.medium"


def instance_id_for(host: str) -> str:
    """A stable managed-instance id (mi-…) for a local host reached through SSM."""
    return "mi-" + hashlib.sha256(host.encode()).hexdigest()[:17]


def function_name(task: str) -> str:
    """The Lambda function of a ``TASKS`` entry."""
    return FUNCTION_PREFIX + task


def function_arn(task: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name(task)}"
