"""EC2 for disaster recovery: launch a replacement from a launch template, watch it boot, read its console,
terminate it; and whether the SSM Agent of an instance is online."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from freshtrack_ops.adapters.ec2_instances import CAPACITY_CODES
from freshtrack_ops.errors import InstanceCapacityUnavailable

#: instance states from which an instance never runs again (EC2 instance lifecycle)
GONE_STATES = frozenset({"shutting-down", "terminated"})


@dataclass(frozen=True)
class InstanceView:
    instance_id: str
    state: str
    public_ip: str | None
    private_ip: str | None
    tags: Mapping[str, str]


class Ec2Instances:
    def __init__(self, ec2: Any, ssm: Any) -> None:
        self._ec2 = ec2
        self._ssm = ssm

    def launch(self, launch_template: Mapping[str, str], tags: Mapping[str, str], client_token: str) -> str:
        """RunInstances, one instance, tagged (instance and volume) at launch. ``client_token`` makes a retried
        call return the same instance instead of a second one (EC2 "Ensure idempotency": 64 ASCII characters)."""
        tag_list = [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
        try:
            response = self._ec2.run_instances(
                LaunchTemplate=dict(launch_template),
                MinCount=1,
                MaxCount=1,
                ClientToken=client_token[:64],
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": tag_list},
                    {"ResourceType": "volume", "Tags": tag_list},
                ],
            )
        except ClientError as exc:
            # no capacity for the template's type in its zone, the type not offered there, or the account's limits
            # (ec2_instances.py names the codes): a named error, as for a scale, not botocore's anonymous ClientError
            # (which once was the whole error a failed recovery reported); nothing was launched
            error: Any = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in CAPACITY_CODES:
                message = str(error.get("Message", ""))[:500]
                raise InstanceCapacityUnavailable(f"RunInstances refused: {code}: {message}") from exc
            raise
        return str(response["Instances"][0]["InstanceId"])

    def describe(self, instance_id: str) -> InstanceView:
        reservations = self._ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        raw = reservations[0]["Instances"][0]
        return InstanceView(
            instance_id=instance_id,
            state=raw["State"]["Name"],
            public_ip=raw.get("PublicIpAddress"),
            private_ip=raw.get("PrivateIpAddress"),
            tags={tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])},
        )

    def tagged(self, key: str, value: str) -> list[InstanceView]:
        """Instances carrying tag ``key=value`` that are not terminated (the janitor's way to find a drill host
        whose launch answer was lost)."""
        pages = self._ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{key}", "Values": [value]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )
        found = []
        for page in pages:
            for reservation in page["Reservations"]:
                for raw in reservation["Instances"]:
                    found.append(
                        InstanceView(
                            instance_id=raw["InstanceId"],
                            state=raw["State"]["Name"],
                            public_ip=raw.get("PublicIpAddress"),
                            private_ip=raw.get("PrivateIpAddress"),
                            tags={tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])},
                        )
                    )
        return found

    def console(self, instance_id: str) -> str:
        """The console output, decoded (botocore decodes GetConsoleOutput's base64); "" before any is posted."""
        return str(self._ec2.get_console_output(InstanceId=instance_id).get("Output") or "")

    def terminate(self, instance_ids: list[str]) -> None:
        if instance_ids:
            self._ec2.terminate_instances(InstanceIds=instance_ids)

    def ssm_online(self, instance_id: str) -> bool:
        """The instance's SSM Agent has registered and answers (``PingStatus`` Online)."""
        response = self._ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
        return any(info.get("PingStatus") == "Online" for info in response.get("InstanceInformationList", []))
