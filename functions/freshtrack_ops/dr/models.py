"""The disaster-recovery request and its plan: what a recovery or drill will do, decided before anything is
touched. Only ids, names and small facts: no secret value, no data (docs/disaster-recovery.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.config import SshKeyType
from freshtrack_ops.models import BackupId, BackupRef, HostRef, Reason, Strict

Mode = Literal["drill", "recover"]
DR_ID_PATTERN = r"^dr-[a-z][a-z0-9-]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{8}$"
#: the tags of a provisioned replacement (``ProvisionSpec.tags``, on its instance and volumes). The task role may
#: launch only with exactly these tag keys, the DR id present, and terminate only instances tagged as a drill's
#: (stacks/function_factory.py, ``ec2-replacement``)
DR_ID_TAG = "freshtrack-ops:dr-id"
DR_HOST_TAG = "freshtrack-ops:host"
DR_MODE_TAG = "freshtrack-ops:mode"
DR_EXECUTION_TAG = "freshtrack-ops:execution"
DR_TAG_KEYS = (DR_ID_TAG, DR_HOST_TAG, DR_MODE_TAG, DR_EXECUTION_TAG)
#: the ops table's partition of promoted and registered replacement servers, read on every targets() call; the
#: ``targets`` grant reads this partition only (``dynamodb:LeadingKeys``)
SERVERS_PARTITION = "SERVERS"


class DisasterRecoveryRequest(Strict):
    """Execution input of the disaster-recovery workflow."""

    host: HostRef = Field(description="Target id from the deployment configuration (the server being replaced).")
    mode: Mode = Field(
        default="drill",
        description="drill: recover onto a throw-away server and measure RTO/RPO, changing no DNS and no inventory; "
        "recover: move the target onto the new server for real.",
    )
    backup_id: BackupId | Literal["latest-verified"] = Field(
        default="latest-verified",
        description="The backup to restore: an id of a backup whose test restore passed, or latest-verified.",
    )
    replacement: Literal["provision"] | HostRef = Field(
        default="provision",
        description="provision (a new EC2 instance from the target's launch template) or the id of one of the "
        "target's standbys (dr.standbys).",
    )
    confirm: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None,
        description="recover only: must equal the target's domain (unless dr.approval is configured). "
        "A drill takes no confirmation.",
    )
    reason: Reason = ""


class ValidateDisasterRecoveryEvent(Strict):
    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    started_at: datetime


class ProvisionSpec(Strict):
    """A new EC2 instance: RunInstances with the launch template, tagged with the execution."""

    kind: Literal["provision"] = "provision"
    #: RunInstances' LaunchTemplate parameter ({LaunchTemplateId|LaunchTemplateName, Version})
    launch_template: dict[str, str]
    instance_role_arn: str | None
    transport: Literal["ssh", "ssm"]
    #: SSH only: how to log in, and which host key type is pinned from the console output
    ssh_user: str | None = None
    ssh_port: int | None = None
    private_key_secret_arn: str | None = None
    host_key_type: SshKeyType | None = None
    connect_via: Literal["public-ip", "private-ip"]
    #: RunInstances TagSpecifications (instance and volume): the IAM policy allows RunInstances only with them
    tags: dict[str, str]
    running_timeout_s: int
    reachable_timeout_s: int


class StandbySpec(Strict):
    """One of the target's configured standbys."""

    kind: Literal["standby"] = "standby"
    standby_id: HostRef
    transport: Literal["ssh", "ssm"]


class DnsChange(Strict):
    """The Route 53 record a recovery UPSERTs (a drill never does)."""

    hosted_zone_id: str
    record_name: str
    record_type: Literal["A", "AAAA"]
    ttl: int
    insync_timeout_s: int


class DisasterRecoveryPlan(Strict):
    dr_id: Annotated[str, StringConstraints(pattern=DR_ID_PATTERN)]
    host: HostRef
    mode: Mode
    domain: str
    backup: BackupRef
    #: when the backup finished: the recovery point (RPO = start of the DR - this)
    backup_finished_at: str
    replacement: Annotated[ProvisionSpec | StandbySpec, Field(discriminator="kind")]
    #: set for recover only: a drill changes no DNS
    dns: DnsChange | None
    #: the Secrets Manager secret (its NAME) holding .env.production and secrets/: never its value
    app_config_secret_name: str
    approval_required: bool
    approval_timeout_s: int
    reason: Reason
    execution_id: str
    started_at: datetime
    lock_lease_seconds: int
