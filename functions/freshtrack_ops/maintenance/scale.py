"""A vertical scale of a target's EC2 instance (the manual's "Scaling → Vertical Scaling": stop, resize, start).

What may be scaled and to what is checked here before anything runs (``check_scale``); the workflow then drives
the instance one EC2 action at a time through ``run_instance_action`` (the instance task), polling ``describe``
between them. The order of a scale, and its way back, as the workflow runs it: stop → wait ``stopped`` → set the new
type → start → wait ``running`` → the host answers → verify. A start EC2 refuses for capacity
(``InstanceCapacityUnavailable``) leaves the instance stopped with the new type: the workflow sets the old type back
and starts it again.
"""

from __future__ import annotations

from freshtrack_ops.config import SshTarget, SsmTarget, Target
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.maintenance.models import ScaleRequest
from freshtrack_ops.maintenance.scale_models import InstanceEvent
from freshtrack_ops.ports import InstanceControl, InstanceInfo

#: The EC2 authorizations a scale's instance task needs ("Actions, resources, and condition keys for Amazon EC2",
#: Service Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html;
#: the IAM user guide's example "Amazon EC2: Allows starting or stopping an EC2 instance ..." grants
#: ec2:StartInstances/StopInstances on ``arn:aws:ec2:*:*:instance/i-...`` and ec2:DescribeInstances on ``*``).
#: ``{instance_id}`` is each scalable target's instance (``instance_id_of``). DescribeInstances supports no
#: resource-level permission (``*`` only). The instance resource carries ``aws:ResourceTag/${TagKey}``,
#: ``ec2:ResourceTag/${TagKey}``, ``ec2:InstanceType``, ``ec2:AvailabilityZone`` and ``ec2:Region``: note that
#: ``ec2:InstanceType`` is the instance's type as it is, not the type ModifyInstanceAttribute sets, so a policy cannot
#: limit the new type: ``check_scale`` does (maintenance.allowed_instance_types).
EC2_SCALE_PERMISSIONS: tuple[dict[str, str], ...] = (
    {"action": "ec2:DescribeInstances", "resource": "*", "used_by": "describe"},
    {"action": "ec2:StopInstances", "resource": "arn:aws:ec2:*:*:instance/{instance_id}", "used_by": "stop"},
    {"action": "ec2:StartInstances", "resource": "arn:aws:ec2:*:*:instance/{instance_id}", "used_by": "start"},
    {
        "action": "ec2:ModifyInstanceAttribute",
        "resource": "arn:aws:ec2:*:*:instance/{instance_id}",
        "used_by": "set-type",
    },
)
#: ``(got ...)`` of a target that is no EC2 instance, by transport
_NOT_EC2 = {"ssh": "an SSH target at {address} without maintenance.ec2_instance_id", "local": "a local target"}


def instance_id_of(target: Target) -> str:
    """The EC2 instance a scale stops and resizes: ``maintenance.ec2_instance_id``, else an SSM target's own instance
    when it is an EC2 one (``i-``). A managed instance (``mi-``: an on-premises or other-cloud server registered with
    Systems Manager) has no EC2 type to change; neither has an SSH or local target without the setting."""
    if target.maintenance.ec2_instance_id is not None:
        return target.maintenance.ec2_instance_id
    if isinstance(target, SsmTarget):
        if target.instance_id.startswith("i-"):
            return target.instance_id
        got = f"the SSM managed instance {target.instance_id}"
    elif isinstance(target, SshTarget):
        got = _NOT_EC2["ssh"].format(address=target.address)
    else:
        got = _NOT_EC2["local"]
    raise InvalidInput(
        f"host: {target.id} is not an EC2 instance (scaling needs maintenance.ec2_instance_id or an SSM target i-...) "
        f"(got {got})"
    )


def _type_problems(request: ScaleRequest, target: Target, current: InstanceInfo) -> list[str]:
    allowed = target.maintenance.allowed_instance_types
    wanted = request.instance_type
    if not allowed:
        return [
            f"instance_type: scaling is disabled for target {target.id!r} (maintenance.allowed_instance_types is "
            f"empty) (got {wanted!r})"
        ]
    if wanted not in allowed:
        return [f"instance_type: not allowed for target {target.id!r} (allowed: {', '.join(allowed)}) (got {wanted!r})"]
    if wanted == current.instance_type:
        return [f"instance_type: instance {current.instance_id} already has this type (got {wanted!r})"]
    return []


def _state_problem(current: InstanceInfo) -> str | None:
    """A scale starts from a running instance: a stopped one would be started by it (the service was down on
    purpose, or is being worked on), one in transition or going away is someone else's change."""
    if current.state != "running":
        return f"host: instance {current.instance_id} must be running to be scaled (got {current.state})"
    return None


def _confirmation_problem(request: ScaleRequest, target: Target) -> str | None:
    """The typed confirmation: stopping the instance takes the service down. A dry run changes nothing and needs
    none; a confirmation given must be right either way."""
    if request.confirm == target.id:
        return None
    if request.confirm is None and request.dry_run:
        return None
    shown = "missing" if request.confirm is None else repr(request.confirm)
    return f"confirm: a scale stops instance and service: type the target id {target.id!r} to confirm (got {shown})"


def check_scale(request: ScaleRequest, target: Target, current: InstanceInfo) -> None:
    """InvalidInput naming every problem of the request for this target and its instance as it is now, one
    ``field: message (got value)`` clause each (the confirmation last); nothing has been touched."""
    if request.host != target.id:
        raise InvalidInput(
            f"host: the request is for {request.host!r}, not target {target.id!r} (got {request.host!r})"
        )
    problems = _type_problems(request, target, current)
    state = _state_problem(current)
    if state:
        problems.append(state)
    confirmation = _confirmation_problem(request, target)
    if confirmation:
        problems.append(confirmation)
    if problems:
        raise InvalidInput("; ".join(problems))


def scale_commands(instance_id: str, old_type: str, new_type: str) -> list[str]:
    """What a scale does to the instance, as AWS CLI commands (a dry run lists them; the backup, waits and
    verification around them are the workflow's)."""
    ids = f"--instance-ids {instance_id}"
    return [
        f"aws ec2 stop-instances {ids}",
        f"aws ec2 wait instance-stopped {ids}",
        f"aws ec2 modify-instance-attribute --instance-id {instance_id} --instance-type Value={new_type}",
        f"aws ec2 start-instances {ids}",
        f"aws ec2 wait instance-running {ids}",
        f"# if EC2 cannot start {new_type}: modify-instance-attribute back to Value={old_type}, start-instances again",
    ]


def run_instance_action(event: InstanceEvent, target: Target, control: InstanceControl) -> InstanceInfo:
    """One EC2 action on ``target``'s instance, then the instance as EC2 describes it. The event's instance must be
    the target's (an execution's input never names another instance to stop)."""
    expected = instance_id_of(target)
    if event.instance_id != expected:
        raise ConfigError(
            f"instance_id: target {target.id!r} is instance {expected}, not this one (got {event.instance_id!r})"
        )
    if event.action == "stop":
        control.stop(event.instance_id)
    elif event.action == "start":
        control.start(event.instance_id)
    elif event.action == "set-type" and event.instance_type is not None:  # the model requires the type
        control.set_instance_type(event.instance_id, event.instance_type)
    return control.describe(event.instance_id)
