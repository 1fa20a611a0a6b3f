"""The local plane's EC2 side of a vertical scale: each host has an EC2 instance named in its target; stopping and
starting it powers the host through the plane's callback; the capacity fault refuses a start of its type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.config import Config

from freshtrack_ops.adapters.ec2_instances import Ec2InstanceControl
from freshtrack_ops.errors import InstanceCapacityUnavailable
from freshtrack_ops.maintenance.scale import instance_id_of
from opsctl.local.ec2_scaling import LOCAL_ALLOWED_TYPES
from opsctl.local.plane import LocalPlane
from opsctl.local.sshd import available as sshd_available

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    """An SSH host and an SSM host, small (no workflow runs here)."""
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    with LocalPlane(readings=200, use_sshd=True) as local_plane:
        yield local_plane


def test_each_host_is_a_running_ec2_instance_its_target_names(plane: LocalPlane) -> None:
    control = Ec2InstanceControl(plane.client("ec2"))
    ids = {}
    for host in ("demo", "demo-ssm"):
        target = plane.target(host)
        ids[host] = instance_id_of(target)
        assert ids[host] == plane.ec2_instance_id(host)
        assert target.maintenance.allowed_instance_types == LOCAL_ALLOWED_TYPES
        info = control.describe(ids[host])
        assert (info.state, info.instance_type) == ("running", LOCAL_ALLOWED_TYPES[0])
    assert ids["demo"] != ids["demo-ssm"]
    # the SSM target stays a managed instance (its agent registers as mi-...): scaling goes through the setting
    assert plane.target("demo-ssm").instance_id.startswith("mi-")  # type: ignore[union-attr]


def test_stop_and_start_power_the_host_and_the_capacity_fault_keeps_it_stopped(plane: LocalPlane) -> None:
    control = Ec2InstanceControl(_no_retry_ec2())
    instance_id = plane.ec2_instance_id("demo")
    power: list[tuple[str, bool]] = []
    plane.set_power_callback(lambda i, on: power.append((i, on)))
    try:
        control.stop(instance_id)
        control.set_instance_type(instance_id, "t3.xlarge")
        plane.set_ec2_capacity_fault("t3.xlarge")
        with pytest.raises(InstanceCapacityUnavailable, match="InsufficientInstanceCapacity: We currently do not"):
            control.start(instance_id)
        assert (control.describe(instance_id).state, power) == ("stopped", [(instance_id, False)])
        plane.set_ec2_capacity_fault(None)
        control.start(instance_id)
        assert control.describe(instance_id).instance_type == "t3.xlarge"
        assert power == [(instance_id, False), (instance_id, True)]
    finally:
        plane.set_power_callback(None)
        plane.set_ec2_capacity_fault(None)


def _no_retry_ec2() -> object:
    import boto3

    return boto3.client("ec2", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
