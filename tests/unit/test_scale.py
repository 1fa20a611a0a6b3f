"""Vertical scaling, EC2 side: which targets can be scaled and to what (check_scale, instance_id_of), the instance
task's event, the EC2 adapter against moto with the local plane's EC2 patches (opsctl/local/ec2_scaling.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from pydantic import ValidationError

from freshtrack_ops.adapters.ec2_instances import Ec2InstanceControl
from freshtrack_ops.config import LocalTarget, SshTarget, SsmTarget, Target
from freshtrack_ops.errors import ConfigError, InstanceCapacityUnavailable, InstanceStateWrong, InvalidInput
from freshtrack_ops.maintenance.models import ScaleRequest
from freshtrack_ops.maintenance.scale import check_scale, instance_id_of, run_instance_action, scale_commands
from freshtrack_ops.maintenance.scale_models import InstanceEvent
from freshtrack_ops.maintenance.settings import MaintenanceSettings
from freshtrack_ops.ports import InstanceInfo
from opsctl.local import ec2_scaling

REGION = "us-east-1"
EC2_ID = "i-0123456789abcdef0"
ALLOWED = ("t3.medium", "t3.large", "t3.xlarge")
SCALABLE = MaintenanceSettings(ec2_instance_id=EC2_ID, allowed_instance_types=ALLOWED)
HOST_KEY = "ssh-ed25519 " + "A" * 68
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo-key-AbCdEf"


def ssh_target(maintenance: MaintenanceSettings = SCALABLE) -> SshTarget:
    return SshTarget(
        id="demo",
        domain="demo.example.com",
        address="10.0.0.5",
        private_key_secret_arn=SECRET,
        host_public_key=HOST_KEY,
        maintenance=maintenance,
    )


def ssm_target(instance_id: str, maintenance: MaintenanceSettings | None = None) -> SsmTarget:
    return SsmTarget(
        id="demo-ssm",
        domain="demo.example.com",
        instance_id=instance_id,
        maintenance=maintenance or MaintenanceSettings(allowed_instance_types=ALLOWED),
    )


def running(instance_type: str = "t3.medium", state: str = "running") -> InstanceInfo:
    return InstanceInfo(instance_id=EC2_ID, state=state, instance_type=instance_type, availability_zone="us-east-1a")  # type: ignore[arg-type]


def request(**changes: Any) -> ScaleRequest:
    return ScaleRequest.model_validate({"host": "demo", "instance_type": "t3.large", "confirm": "demo"} | changes)


# -- which instance ---------------------------------------------------------------------------------------
def test_the_instance_is_the_configured_one_else_an_ssm_targets_own_ec2_instance() -> None:
    assert instance_id_of(ssh_target()) == EC2_ID
    assert instance_id_of(ssm_target("i-0fedcba9876543210")) == "i-0fedcba9876543210"
    # the setting wins over the SSM target's own id (it may reach the server through another instance id)
    assert instance_id_of(ssm_target("mi-0fedcba9876543210", SCALABLE)) == EC2_ID


@pytest.mark.parametrize(
    ("target", "got"),
    [
        (ssm_target("mi-0fedcba9876543210"), "the SSM managed instance mi-0fedcba9876543210"),
        (ssh_target(MaintenanceSettings(allowed_instance_types=ALLOWED)), "an SSH target at 10.0.0.5"),
        (LocalTarget(id="demo", domain="demo.example.com"), "a local target"),
    ],
)
def test_a_target_that_is_no_ec2_instance_is_refused_with_what_it_is(target: Target, got: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        instance_id_of(target)
    message = str(raised.value)
    assert message.startswith(f"host: {target.id} is not an EC2 instance (scaling needs maintenance.ec2_instance_id")
    assert f"(got {got}" in message


# -- what may be scaled -----------------------------------------------------------------------------------
def test_a_new_allowed_type_of_a_running_instance_with_the_typed_confirmation_passes() -> None:
    check_scale(request(), ssh_target(), running())


def test_a_dry_run_needs_no_confirmation_but_a_wrong_one_is_still_refused() -> None:
    check_scale(request(confirm=None, dry_run=True), ssh_target(), running())
    with pytest.raises(InvalidInput, match=r"^confirm: .*type the target id 'demo' to confirm \(got 'dmeo'\)$"):
        check_scale(request(confirm="dmeo", dry_run=True), ssh_target(), running())


@pytest.mark.parametrize(
    ("changes", "target", "current", "expected"),
    [
        (
            {},
            ssh_target(MaintenanceSettings(ec2_instance_id=EC2_ID)),
            running(),
            "instance_type: scaling is disabled for target 'demo' (maintenance.allowed_instance_types is empty) "
            "(got 't3.large')",
        ),
        (
            {"instance_type": "m5.large"},
            ssh_target(),
            running(),
            "instance_type: not allowed for target 'demo' (allowed: t3.medium, t3.large, t3.xlarge) (got 'm5.large')",
        ),
        (
            {"instance_type": "t3.medium"},
            ssh_target(),
            running(),
            f"instance_type: instance {EC2_ID} already has this type (got 't3.medium')",
        ),
        (
            {},
            ssh_target(),
            running(state="stopped"),
            f"host: instance {EC2_ID} must be running to be scaled (got stopped)",
        ),
        (
            {"confirm": None},
            ssh_target(),
            running(),
            "confirm: a scale stops instance and service: type the target id 'demo' to confirm (got missing)",
        ),
        (
            {"confirm": "prod"},
            ssh_target(),
            running(),
            "confirm: a scale stops instance and service: type the target id 'demo' to confirm (got 'prod')",
        ),
        (
            {"host": "other"},
            ssh_target(),
            running(),
            "host: the request is for 'other', not target 'demo' (got 'other')",
        ),
    ],
)
def test_each_refusal_names_its_field_and_value(
    changes: dict[str, Any], target: Target, current: InstanceInfo, expected: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_scale(request(**changes), target, current)
    assert str(raised.value) == expected


def test_every_problem_is_named_at_once_the_confirmation_last() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_scale(request(instance_type="t3.medium", confirm=None), ssh_target(), running(state="stopping"))
    clauses = str(raised.value).split("; ")
    assert [clause.split(":")[0] for clause in clauses] == ["instance_type", "host", "confirm"]


def test_a_malformed_type_never_reaches_the_checks() -> None:
    with pytest.raises(ValidationError, match="instance_type"):
        request(instance_type="T3.LARGE; reboot")


def test_the_dry_run_lists_the_ec2_commands_and_the_way_back() -> None:
    commands = scale_commands(EC2_ID, "t3.medium", "t3.large")
    assert commands[0] == f"aws ec2 stop-instances --instance-ids {EC2_ID}"
    assert f"--instance-id {EC2_ID} --instance-type Value=t3.large" in commands[2]
    assert "Value=t3.medium" in commands[-1]


# -- the instance task's event ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"action": "set-type"}, "instance_type"),
        ({"action": "stop", "instance_type": "t3.large"}, "instance_type"),
        ({"action": "stop", "instance_id": "mi-0123456789abcdef0"}, "instance_id"),
        ({"action": "reboot"}, "action"),
    ],
)
def test_an_instance_event_that_does_not_fit_its_action_is_refused(event: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        InstanceEvent.model_validate({"host": "demo", "instance_id": EC2_ID} | event)
    assert {str(error["loc"][0]) for error in raised.value.errors()} == {field}


class RecordingControl:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def describe(self, instance_id: str) -> InstanceInfo:
        self.calls.append(("describe", instance_id))
        return running()

    def stop(self, instance_id: str) -> None:
        self.calls.append(("stop", instance_id))

    def start(self, instance_id: str) -> None:
        self.calls.append(("start", instance_id))

    def set_instance_type(self, instance_id: str, instance_type: str) -> None:
        self.calls.append(("set-type", instance_id, instance_type))


def test_an_action_runs_on_the_targets_instance_and_answers_with_it_described() -> None:
    control = RecordingControl()
    event = InstanceEvent(action="set-type", host="demo", instance_id=EC2_ID, instance_type="t3.large")
    assert run_instance_action(event, ssh_target(), control) == running()
    assert control.calls == [("set-type", EC2_ID, "t3.large"), ("describe", EC2_ID)]


def test_an_event_naming_another_instance_than_the_targets_touches_nothing() -> None:
    control = RecordingControl()
    event = InstanceEvent(action="stop", host="demo", instance_id="i-0aaaaaaaaaaaaaaaa")
    with pytest.raises(ConfigError, match=f"target 'demo' is instance {EC2_ID}, not this one"):
        run_instance_action(event, ssh_target(), control)
    assert control.calls == []


# -- the adapter on moto, with the plane's EC2 patches ----------------------------------------------------
@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        # no SDK retries: the capacity fault is a 500, which botocore would otherwise retry with backoff
        yield boto3.client("ec2", region_name=REGION, config=Config(retries={"max_attempts": 1}))


def launch(ec2: Any, instance_type: str = "t3.medium") -> str:
    response = ec2.run_instances(ImageId="ami-0f7e57a1c0ca1f000", InstanceType=instance_type, MinCount=1, MaxCount=1)
    return str(response["Instances"][0]["InstanceId"])


def test_stop_resize_start_with_the_power_of_the_host_following(ec2: Any) -> None:
    instance_id, bystander = launch(ec2), launch(ec2)
    power: list[tuple[str, bool]] = []
    control = Ec2InstanceControl(ec2)
    with ec2_scaling.active(lambda i, on: power.append((i, on)), {instance_id}):
        assert control.describe(instance_id) == InstanceInfo(instance_id, "running", "t3.medium", "us-east-1a")
        control.stop(instance_id)
        control.stop(instance_id)  # already stopped: nothing happens, as on EC2
        assert control.describe(instance_id).state == "stopped"
        assert power == [(instance_id, False)]
        control.set_instance_type(instance_id, "t3.large")
        control.start(instance_id)
        control.stop(bystander)  # not one of the plane's hosts: nobody is told
    assert control.describe(instance_id) == InstanceInfo(instance_id, "running", "t3.large", "us-east-1a")
    assert power == [(instance_id, False), (instance_id, True)]


def test_a_type_changes_only_while_the_instance_is_stopped(ec2: Any) -> None:
    instance_id = launch(ec2)
    control = Ec2InstanceControl(ec2)
    with ec2_scaling.active(None):
        with pytest.raises(
            InstanceStateWrong, match=r"IncorrectInstanceState: The instance .* is not in the 'stopped'"
        ):
            control.set_instance_type(instance_id, "t3.large")
        control.stop(instance_id)
        with pytest.raises(
            InvalidInput, match=r"^instance_type: EC2 refused it .*InvalidInstanceAttributeValue.*\(got 't3.huge'\)$"
        ):
            control.set_instance_type(instance_id, "t3.huge")
    assert control.describe(instance_id).instance_type == "t3.medium"


def test_no_capacity_for_the_new_type_leaves_the_instance_stopped_with_it(ec2: Any) -> None:
    instance_id = launch(ec2)
    power: list[tuple[str, bool]] = []
    control = Ec2InstanceControl(ec2)
    with ec2_scaling.active(lambda i, on: power.append((i, on)), {instance_id}):
        ec2_scaling.STATE.capacity_fault = "t3.xlarge"
        control.stop(instance_id)
        control.set_instance_type(instance_id, "t3.xlarge")
        with pytest.raises(InstanceCapacityUnavailable) as raised:
            control.start(instance_id)
        assert control.describe(instance_id) == InstanceInfo(instance_id, "stopped", "t3.xlarge", "us-east-1a")
        # the way back: the old type starts
        control.set_instance_type(instance_id, "t3.medium")
        control.start(instance_id)
    assert str(raised.value) == (
        f"start {instance_id}: EC2 cannot start it now (InsufficientInstanceCapacity: We currently do not have "
        "sufficient t3.xlarge capacity in the Availability Zone you requested (us-east-1a). Our system will be working "
        "on provisioning additional capacity. You can currently get t3.xlarge capacity by not specifying an "
        "Availability Zone in your request or choosing us-east-1b, us-east-1c.)"
    )
    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.__cause__.response["ResponseMetadata"]["HTTPStatusCode"] == 500  # a server error, as EC2's
    assert control.describe(instance_id).state == "running"
    assert power == [(instance_id, False), (instance_id, True)]  # the refused start powered nothing on


def test_an_unknown_or_terminated_instance_is_named(ec2: Any) -> None:
    instance_id = launch(ec2)
    control = Ec2InstanceControl(ec2)
    with pytest.raises(ConfigError, match=r"^instance_id: EC2 has no instance i-0aaaaaaaaaaaaaaaa \(InvalidInstanceID"):
        control.describe("i-0aaaaaaaaaaaaaaaa")
    ec2.terminate_instances(InstanceIds=[instance_id])
    with (
        ec2_scaling.active(None),
        pytest.raises(InstanceStateWrong, match="not in a state from which it can be started"),
    ):
        control.start(instance_id)


def test_without_the_plane_moto_behaves_as_moto(ec2: Any) -> None:
    instance_id = launch(ec2)
    ec2_scaling.install()
    Ec2InstanceControl(ec2).set_instance_type(instance_id, "t3.large")  # moto alone does not check the state
    assert Ec2InstanceControl(ec2).describe(instance_id).instance_type == "t3.large"
