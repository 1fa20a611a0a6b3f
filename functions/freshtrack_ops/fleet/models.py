"""What flows between the update-fleet workflow's states: hosts, execution names and per-host outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from freshtrack_ops.fields import HostRef, Reason, Strict
from freshtrack_ops.update.models import RollbackDatabase, UpdateKind, UpdateVersion

#: the update workflow's own TimeoutSeconds (state_machines/update.asl.json; tests/asl checks they agree)
UPDATE_TIMEOUT_S = 691_200
#: how long a fleet waits for one nested update: longer than the update's own timeout, so a child that runs
#: too long ends TIMED_OUT by itself (and its lock janitor runs) before the fleet would give up on it
CHILD_TIMEOUT_S = UPDATE_TIMEOUT_S + 3600
#: the fleet's TimeoutSeconds: 360 days, under Step Functions' one-year limit of a Standard execution
FLEET_TIMEOUT_S = 360 * 86_400
#: how long a fleet's FLEET# item is kept (DynamoDB TTL): a month past the longest a fleet can run, as evidence of
#: what it started
FLEET_ITEM_KEEP_S = FLEET_TIMEOUT_S + 30 * 86_400
#: nested updates one fleet may run one after the other (the canary and every wave) and still end before its own
#: timeout even if each used its whole CHILD_TIMEOUT_S: a fleet that reaches its TimeoutSeconds runs no Catch,
#: and Step Functions would stop the update it waits for wherever that update is (half-deployed)
MAX_SEQUENTIAL_UPDATES = FLEET_TIMEOUT_S // CHILD_TIMEOUT_S
#: an inline Map runs at most 40 iterations at once (Step Functions developer guide, "Map state in Inline mode")
MAX_CONCURRENCY = 40
#: hosts per fleet. A deployment's targets parameter (8 KB at most) holds a few dozen targets; 100 keeps the fleet's
#: state data (the plan and every host's outcome, a few hundred bytes each) far under Step Functions' 256 KB, and
#: its history (about 20 events per host: claim, nested update, record, iteration) far under 25,000 events
MAX_FLEET_HOSTS = 100
#: a failed host's cause in the outcome (the full one is in the nested update's own history)
MAX_CAUSE_CHARS = 1000
#: a Step Functions execution name: 1-80 characters; these are the ones CloudWatch logging accepts
EXECUTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
ExecutionName = Annotated[str, StringConstraints(pattern=EXECUTION_NAME_PATTERN)]
HostStatus = Literal["succeeded", "current", "failed", "rolled-back", "skipped"]
#: what lets the fleet go on: the host runs the version now (updated, or it already did)
GOOD_STATUSES: frozenset[str] = frozenset({"succeeded", "current"})


class FleetUpdateRequest(Strict):
    """Execution input of the update-fleet workflow."""

    version: UpdateVersion = Field(
        description="What every host is updated to, as the update workflow takes it", examples=["v1.3.0", "latest"]
    )
    targets: tuple[HostRef, ...] | Literal["all"] = Field(
        description="Target ids in rollout order, or all (every target, in configuration order)",
        examples=["all", ["staging", "prod"]],
    )
    canary: HostRef | None = Field(
        default=None, description="The target updated first, alone (one of targets; default: the first of them)"
    )
    max_concurrency: int = Field(
        default=1, ge=1, le=MAX_CONCURRENCY, description="How many hosts update at the same time after the canary"
    )
    kind: UpdateKind = Field(
        default="release",
        description="release: new code on every host; images: the manual's Docker update on every host",
    )
    reason: Reason = Field(default="", description="Free text shown in each host's update and the notification")
    rollback_database: RollbackDatabase = Field(
        default="auto",
        description="Each failed update's database rollback: auto (if the schema changed), always or never",
    )
    allow_downgrade: bool = Field(default=False, description="Allow a version older than a host's running one")


class ChildUpdate(Strict):
    """The update workflow's input for every host but its ``host``."""

    version: UpdateVersion
    kind: UpdateKind
    reason: Reason
    rollback_database: RollbackDatabase
    allow_downgrade: bool


class FleetMember(Strict):
    host: HostRef
    #: the nested update's execution name: the same on a retried start (StartExecution is idempotent for a running
    #: execution with the same name and input, and refuses a second one otherwise), unique per fleet execution
    execution_name: ExecutionName


class FleetPlan(Strict):
    fleet: ExecutionName
    execution_id: str
    started_at: datetime
    update: ChildUpdate
    canary: FleetMember
    #: in rollout order
    rest: tuple[FleetMember, ...]
    max_concurrency: int
    #: the canary's and then ceil(len(rest) / max_concurrency) waves of nested updates
    sequential_updates: int


class ValidateFleetEvent(Strict):
    request: dict[str, object]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    execution_name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    started_at: datetime


class HostOutcome(Strict):
    """One host of the fleet: what its nested update did (or why none ran)."""

    host: HostRef
    status: HostStatus
    execution_arn: str = ""
    #: the version it runs now (succeeded), else empty
    version: str = ""
    error: str = ""
    cause: str = ""


class ClaimEvent(Strict):
    """May this host's nested update start? Not once the fleet was halted."""

    action: Literal["claim"]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    host: HostRef


class ClaimResult(Strict):
    go: bool
    #: when not: the host's outcome (skipped, and why)
    outcome: HostOutcome | None = None


class RecordEvent(Strict):
    """A nested update ended (``run``: what its Task state returned, or the error its Catch caught)."""

    action: Literal["record"]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    host: HostRef
    execution_name: ExecutionName
    update_state_machine_arn: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    run: dict[str, Any]


class HaltEvent(Strict):
    """Stop starting nested updates (an operator's graceful stop: running ones finish, the rest are skipped)."""

    action: Literal["halt"]
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]


GateEvent = Annotated[ClaimEvent | RecordEvent | HaltEvent, Field(discriminator="action")]


class CanaryRun(Strict):
    outcome: HostOutcome


class FleetResults(Strict):
    """What the workflow collected: each Map's outcomes, or the error that ended the Map."""

    canary: CanaryRun | None = None
    rollout: tuple[HostOutcome, ...] = ()
    canary_error: dict[str, Any] | None = None
    rollout_error: dict[str, Any] | None = None


class ReportEvent(Strict):
    plan: FleetPlan
    results: FleetResults


class FleetReport(Strict):
    """The fleet execution's output (and, when it failed, the source of its cause)."""

    fleet: ExecutionName
    version: str
    succeeded: bool
    canary: HostRef
    hosts: tuple[HostOutcome, ...]
    counts: dict[str, int]
    #: who stopped new updates from starting (a host that failed, or an operator's halt), if anyone did
    halted_by: str = ""
    summary: str
