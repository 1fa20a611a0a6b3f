"""The disaster-recovery request and its plan: what a recovery or drill will do, decided before anything is
touched. Only ids, names and small facts: no secret value, no data (docs/disaster-recovery.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.config import DR_ID_PATTERN, SshKeyType
from freshtrack_ops.fields import HostRef, Reason, Strict
from freshtrack_ops.models import BackupId, BackupRef

Mode = Literal["drill", "recover"]
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

    host: HostRef = Field(description="Target id of the server being replaced")
    mode: Mode = Field(
        default="drill",
        description=(
            "drill: recover onto a throw-away server and measure RTO/RPO (no DNS or inventory change); "
            "recover: move the target for real"
        ),
    )
    backup_id: BackupId | Literal["latest-verified"] = Field(
        default="latest-verified",
        description="The backup to restore: latest-verified, or the id of a backup whose test restore passed",
    )
    replacement: Literal["provision"] | HostRef = Field(
        default="provision",
        description=(
            "provision (a new EC2 instance from the target's launch template) or the id of one of the "
            "target's dr.standbys"
        ),
    )
    confirm: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None,
        description="recover only: the target's domain, typed (may be left out when dr.approval is configured)",
        examples=["app.example.com"],
    )
    reason: Reason = Field(default="", description="Free text shown in the notification and the recovery record")


class CaptureConfigRequest(Strict):
    """Execution input of the capture-config workflow."""

    host: HostRef = Field(
        description="Target id whose .env.production and secrets/ are captured into its app-config secret"
    )


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
    #: the id the host steps reach the replacement by while it is bootstrapped: ``dr-<8 hex>`` for a provisioned
    #: server, the standby's id for a standby
    replacement_id: HostRef
    mode: Mode
    domain: str
    database: str
    backup: BackupRef
    #: the app version the backup was taken from (its manifest's ``git describe``): what the replacement runs
    revision: str
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
    poll_s: int
    #: how often the check through the domain is asked (every 10 s over the target's update.verify_window_s)
    verify_attempts: int


class LaunchedInstance(Strict):
    instance_id: Annotated[str, StringConstraints(pattern=r"^i-[0-9a-f]{8,17}$")]
    launched_at: datetime


class InstanceStatus(Strict):
    """Whether a launched instance runs and answers yet (the workflow waits and asks again until it does)."""

    ready: bool
    state: str
    instance_id: str
    waited_s: float
    detail: str = ""


class RegisteredReplacement(Strict):
    """The replacement as the rest of the workflow knows it (no secret: ids, addresses, the pinned public key)."""

    replacement_id: HostRef
    kind: Literal["provision", "standby"]
    transport: Literal["ssh", "ssm"]
    #: ``config.server_key`` of the new server
    server: str
    #: the value a recovery writes into the DNS record (the instance's public or private address, an SSH standby's
    #: address; "" for an SSM-only standby, which a recovery cannot point the domain at)
    dns_value: str
    instance_id: str | None = None


class ReplacementEvent(Strict):
    action: Literal["launch", "status", "register", "terminate", "release"]
    plan: DisasterRecoveryPlan
    instance: LaunchedInstance | None = None


class ReplacementOutcome(Strict):
    """What terminate/release did."""

    terminated: list[str] = Field(default_factory=list)
    forgotten: str = ""


class DnsChangeStarted(Strict):
    change_id: str
    submitted_at: datetime
    record_name: str
    value: str


class DnsEvent(Strict):
    action: Literal["upsert", "status"]
    plan: DisasterRecoveryPlan
    replacement: RegisteredReplacement
    change: DnsChangeStarted | None = None


class DnsStatus(Strict):
    insync: bool
    change_id: str
    waited_s: float


class PromoteEvent(Strict):
    plan: DisasterRecoveryPlan
    replacement: RegisteredReplacement


class PromoteResult(Strict):
    host: HostRef
    server: str
    retired: str


class Mark(Strict):
    at: datetime


class PhaseMarks(Strict):
    """When each phase ended (``$$.State.EnteredTime`` of the Pass state after it); None: not reached."""

    provisioned: Mark | None = None
    bootstrapped: Mark | None = None
    restored: Mark | None = None
    verified: Mark | None = None
    dns_insync: Mark | None = None
    domain_verified: Mark | None = None


class FailureRef(Strict):
    error_name: str = ""
    error_cause: str = ""


class RecordEvent(Strict):
    plan: DisasterRecoveryPlan
    outcome: Literal["succeeded", "failed"]
    marks: PhaseMarks = PhaseMarks()
    finished_at: datetime
    replacement: RegisteredReplacement | None = None
    failure: FailureRef | None = None


class RecordResult(Strict):
    rto_s: float
    rpo_s: float
    phases: dict[str, float]
    summary: str


class DrApprovalEvent(Strict):
    plan: DisasterRecoveryPlan
    replacement: RegisteredReplacement
    task_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
