"""EC2 stop / resize / start of the plane's hosts (a vertical scale), on moto's EC2.

At start the plane gives every configured host an EC2 instance (``RunInstances`` without a launch template, so
``instances`` boots no new host: the instance *is* the existing host) and names it in the host's target as
``maintenance.ec2_instance_id``. moto keeps the bookkeeping (the instance's state and type are what
DescribeInstances answers); the patches here add what EC2 does that moto does not, while the plane runs
(``STATE.active``; inert otherwise, so other moto users in the process see moto's behaviour):

* ``StopInstances`` / ``StartInstances`` of an instance that really changes state (running → stopped, stopped →
  running) call ``STATE.on_power(instance_id, on)`` after moto recorded it: the plane powers the host off or on
  (what the host does then is the host's business). A stop or start of an instance already in that state changes
  nothing, as on EC2. Stopping or starting a ``shutting-down`` or ``terminated`` instance is refused with
  ``IncorrectInstanceState`` ("The resource is in an incorrect state for the request", EC2 API error codes).
* ``ModifyInstanceAttribute`` of ``InstanceType``: refused with ``IncorrectInstanceState`` unless the instance is
  stopped ("To modify some attributes, the instance must be stopped", API reference ModifyInstanceAttribute; the
  user guide's "Change the instance type" stops the instance first), and with ``InvalidInstanceAttributeValue``
  for a type EC2 does not offer ("If the instance type is not valid, the error returned is
  InvalidInstanceAttributeValue", ModifyInstanceAttribute's ``InstanceType``). moto's own list of types decides.
* The capacity fault (``STATE.capacity_fault``, ``LocalPlane.set_ec2_capacity_fault``): ``StartInstances`` of an
  instance of that type fails with ``InsufficientInstanceCapacity``, a server error (HTTP 500: EC2 lists it with
  the server error codes and SDKs retry it), with EC2's message, and changes nothing: the instance stays stopped.

Not modelled: the ``stopping`` and ``pending`` states (moto answers ``stopped`` and ``running`` at once; the
workflow's poll loop sees its target state on the first poll), per-zone offerings (``Unsupported``), limits.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: the types a plane target may be scaled to (its instance starts as the first)
LOCAL_ALLOWED_TYPES = ("t3.medium", "t3.large", "t3.xlarge")
_GONE = frozenset({"shutting-down", "terminated"})

PowerCallback = Callable[[str, bool], None]


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    installed: bool = False
    #: the patches act only while a plane (or a test) switched them on
    active: bool = False
    #: (instance id, on) -> None: called when an instance of ``powered`` is stopped (False) or started (True)
    on_power: PowerCallback | None = None
    #: the instances whose power the callback follows (the plane's hosts' instances)
    powered: set[str] = field(default_factory=set)
    #: StartInstances of an instance of this type fails with InsufficientInstanceCapacity; None: no fault
    capacity_fault: str | None = None


STATE = _State()


def install() -> None:
    """Patch moto's EC2 instance backend (idempotent; inert until ``STATE.active``)."""
    with STATE.lock:
        if STATE.installed:
            return
        from moto.ec2.models.instances import InstanceBackend

        InstanceBackend.stop_instances = _patched_stop(InstanceBackend.stop_instances)  # type: ignore[method-assign]
        InstanceBackend.start_instances = _patched_start(InstanceBackend.start_instances)  # type: ignore[method-assign]
        InstanceBackend.modify_instance_attribute = _patched_modify(InstanceBackend.modify_instance_attribute)  # type: ignore[method-assign]
        STATE.installed = True


@contextlib.contextmanager
def active(on_power: PowerCallback | None, powered: set[str] | None = None) -> Iterator[None]:
    """The patches act within the block, calling ``on_power`` for the ``powered`` instances (tests; the plane uses
    ``activate``/``deactivate`` over its lifetime)."""
    activate(on_power, powered or set())
    try:
        yield
    finally:
        deactivate()


def activate(on_power: PowerCallback | None, powered: set[str]) -> None:
    install()
    with STATE.lock:
        STATE.active, STATE.on_power, STATE.powered, STATE.capacity_fault = True, on_power, set(powered), None


def deactivate() -> None:
    with STATE.lock:
        STATE.active, STATE.on_power, STATE.powered, STATE.capacity_fault = False, None, set(), None


def _incorrect_state(instance_id: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError("IncorrectInstanceState", message.format(instance_id=instance_id))


def capacity_message(instance_type: str, zone: str) -> str:
    """EC2's InsufficientInstanceCapacity message, in the shape the EC2 user guide ("Insufficient instance capacity")
    and the console show it."""
    region = zone[:-1]
    others = ", ".join(f"{region}{letter}" for letter in "abc" if f"{region}{letter}" != zone)
    return (
        f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested "
        f"({zone}). Our system will be working on provisioning additional capacity. You can currently get "
        f"{instance_type} capacity by not specifying an Availability Zone in your request or choosing {others}."
    )


def _server_error(code: str, message: str) -> Exception:
    """An EC2 server error as it arrives: HTTP 500 with EC2's XML error body (moto serializes its own errors as
    400s; botocore retries a 500, as it does EC2's)."""
    from werkzeug.exceptions import HTTPException

    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    error = HTTPException(description=body)
    error.code = 500
    return error


def _patched_stop(original: Callable[..., Any]) -> Callable[..., Any]:
    def stop_instances(self: Any, instance_ids: list[str]) -> Any:
        if not STATE.active:
            return original(self, instance_ids)
        instances = self.get_multi_instances_by_id(instance_ids)  # unknown id: moto's InvalidInstanceID.NotFound
        for instance in instances:
            if instance.state in _GONE:
                raise _incorrect_state(
                    instance.id, "This instance '{instance_id}' is not in a state from which it can be stopped."
                )
        was_running = {instance.id for instance in instances if instance.state != "stopped"}
        result = original(self, instance_ids)
        _power(sorted(was_running), on=False)
        return result

    return stop_instances


def _patched_start(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_instances(self: Any, instance_ids: list[str]) -> Any:
        if not STATE.active:
            return original(self, instance_ids)
        instances = self.get_multi_instances_by_id(instance_ids)
        for instance in instances:
            if instance.state in _GONE:
                raise _incorrect_state(
                    instance.id, "This instance '{instance_id}' is not in a state from which it can be started."
                )
            if instance.state != "running" and instance.instance_type == STATE.capacity_fault:
                message = capacity_message(instance.instance_type, str(instance.placement.zone))
                raise _server_error("InsufficientInstanceCapacity", message)
        was_stopped = {instance.id for instance in instances if instance.state != "running"}
        result = original(self, instance_ids)
        _power(sorted(was_stopped), on=True)
        return result

    return start_instances


def _patched_modify(original: Callable[..., Any]) -> Callable[..., Any]:
    def modify_instance_attribute(self: Any, instance_id: str, key: str, value: Any) -> Any:
        if not STATE.active or key != "instance_type":
            return original(self, instance_id, key, value)
        from moto.ec2.exceptions import EC2ClientError
        from moto.ec2.models.instance_types import INSTANCE_TYPES

        instance = self.get_instance(instance_id)
        if instance.state != "stopped":
            raise _incorrect_state(instance.id, "The instance '{instance_id}' is not in the 'stopped' state.")
        if value not in INSTANCE_TYPES:
            raise EC2ClientError(
                "InvalidInstanceAttributeValue", f"Value ({value}) for parameter instanceType is invalid."
            )
        return original(self, instance_id, key, value)

    return modify_instance_attribute


def _power(instance_ids: list[str], *, on: bool) -> None:
    with STATE.lock:
        callback, powered = STATE.on_power, set(STATE.powered)
    if callback is None:
        return
    for instance_id in sorted(instance_ids):
        if instance_id in powered:
            callback(instance_id, on)


def launch_host_instances(client: Callable[[str], Any], hosts: list[str]) -> dict[str, str]:
    """One EC2 instance per configured host (host -> instance id), of the first allowed type, named after the host.
    No launch template: ``instances`` boots no host for it; the host already runs."""
    from opsctl.local.names import IMAGE_ID

    ec2 = client("ec2")
    launched: dict[str, str] = {}
    for host in hosts:
        response = ec2.run_instances(
            ImageId=IMAGE_ID,
            InstanceType=LOCAL_ALLOWED_TYPES[0],
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": host}]}],
        )
        launched[host] = str(response["Instances"][0]["InstanceId"])
    return launched
