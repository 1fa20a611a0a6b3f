"""EC2 for a vertical scale: describe, stop, change the type of and start one instance (``InstanceControl``).

EC2's answers become the named errors a workflow catches. The codes are EC2's ("Error codes for the Amazon EC2 API",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):

* ``InsufficientInstanceCapacity`` (a server error, HTTP 5xx: the CLI reports it "reached max retries"): no capacity
  for the type in the instance's Availability Zone: "restart a stopped instance" is one of the documented causes
  (EC2 user guide, "Troubleshoot instance launch issues", Insufficient instance capacity). ``Unsupported``: the type
  is not offered in that zone ("Your requested instance type (t2.micro) is not supported in your requested
  Availability Zone"). ``InstanceLimitExceeded`` / ``VcpuLimitExceeded``: the account's On-Demand limit, which a
  larger type can reach. Each leaves the instance stopped with the type it was given, and each is cured by the same
  step, the old type back: all four are ``InstanceCapacityUnavailable`` (the message names the code).
* ``IncorrectInstanceState``: the request does not fit the instance's state; ModifyInstanceAttribute of the
  ``instanceType`` needs a stopped instance ("To modify some attributes, the instance must be stopped", API reference
  ModifyInstanceAttribute): ``InstanceStateWrong``.
* A type EC2 does not know: ``InvalidInstanceAttributeValue`` (ModifyInstanceAttribute's ``InstanceType``: "If the
  instance type is not valid, the error returned is InvalidInstanceAttributeValue"), ``InvalidParameterValue`` or
  ``InvalidInstanceType``; a type the instance cannot use (``Unsupported`` on ModifyInstanceAttribute):
  ``InvalidInput``, nothing changed.
* ``InvalidInstanceID.NotFound`` / ``.Malformed``: the configured instance does not exist: ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from botocore.exceptions import ClientError

from freshtrack_ops.errors import ConfigError, InstanceCapacityUnavailable, InstanceStateWrong, InvalidInput, OpsError
from freshtrack_ops.ports import InstanceInfo, InstanceState

#: StartInstances answers meaning "not with this type, here, now" (module docstring)
CAPACITY_CODES = frozenset(
    {"InsufficientInstanceCapacity", "Unsupported", "InstanceLimitExceeded", "VcpuLimitExceeded"}
)
STATE_CODES = frozenset({"IncorrectInstanceState"})
UNKNOWN_TYPE_CODES = frozenset(
    {"InvalidInstanceAttributeValue", "InvalidParameterValue", "InvalidInstanceType", "Unsupported"}
)
UNKNOWN_INSTANCE_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})

T = TypeVar("T")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))[:500]


class Ec2InstanceControl:
    """``InstanceControl`` with a boto3 EC2 client."""

    def __init__(self, ec2: Any) -> None:
        self._ec2 = ec2

    def describe(self, instance_id: str) -> InstanceInfo:
        response = self._call(instance_id, "describe", lambda: self._ec2.describe_instances(InstanceIds=[instance_id]))
        found = [raw for reservation in response["Reservations"] for raw in reservation["Instances"]]
        if not found:  # eventual consistency right after a launch; never for a configured instance
            raise ConfigError(f"instance_id: EC2 reports no instance {instance_id} (got {instance_id!r})")
        raw = found[0]
        return InstanceInfo(
            instance_id=instance_id,
            state=cast(InstanceState, raw["State"]["Name"]),
            instance_type=str(raw["InstanceType"]),
            availability_zone=str(raw.get("Placement", {}).get("AvailabilityZone", "")),
        )

    def stop(self, instance_id: str) -> None:
        self._call(instance_id, "stop", lambda: self._ec2.stop_instances(InstanceIds=[instance_id]))

    def start(self, instance_id: str) -> None:
        self._call(instance_id, "start", lambda: self._ec2.start_instances(InstanceIds=[instance_id]))

    def set_instance_type(self, instance_id: str, instance_type: str) -> None:
        self._call(
            instance_id,
            "set-type",
            lambda: self._ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type}),
            instance_type=instance_type,
        )

    @staticmethod
    def _call(instance_id: str, action: str, call: Callable[[], T], instance_type: str = "") -> T:
        try:
            return call()
        except ClientError as exc:
            named = _named(exc, instance_id, action, instance_type)
            if named is None:
                raise
            raise named from exc


def _named(exc: ClientError, instance_id: str, action: str, instance_type: str) -> OpsError | None:
    """The named error of an EC2 refusal (the module docstring's table); None: it stays botocore's ClientError
    (throttling, an access denial: the workflow's Retry or failure handles them)."""
    code, message = _code(exc), _message(exc)
    if code in UNKNOWN_INSTANCE_CODES:
        return ConfigError(f"instance_id: EC2 has no instance {instance_id} ({code}: {message}) (got {instance_id!r})")
    if code in STATE_CODES:
        return InstanceStateWrong(f"{action} {instance_id}: refused in its current state ({code}: {message})")
    if action == "start" and code in CAPACITY_CODES:
        return InstanceCapacityUnavailable(f"start {instance_id}: EC2 cannot start it now ({code}: {message})")
    if action == "set-type" and code in UNKNOWN_TYPE_CODES:
        return InvalidInput(
            f"instance_type: EC2 refused it for instance {instance_id} ({code}: {message}) (got {instance_type!r})"
        )
    return None
