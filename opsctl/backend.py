"""Where the CLI's workflows live: a deployed control plane (found from its stacks' outputs) or the local plane.

Both are boto3 clients plus the stacks' outputs (the same keys: ``<Workflow>StateMachineArn``, ``OpsTableName``,
``BackupBucketName``, ``TargetsParameterName``), so every command runs the same code against either; the local plane
only differs by its endpoint URL. Nothing is pasted by the operator: ARNs and names come from the outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsctl.errors import NotFound, Unreachable
from stacks.names import camel  # plain names, no CDK import

#: the deployment name when neither --stack nor FRESHTRACK_OPS_STACK says one (DeploymentConfig's default name)
DEFAULT_STACK = "FreshTrackOps"
#: the stacks whose outputs the CLI reads (stacks/: <name>ControlPlane and <name>Storage)
STACK_SUFFIXES = ("ControlPlane", "Storage")


@dataclass(frozen=True)
class Backend:
    #: service name -> boto3 client (boto3.client itself, a session's, or one on the local endpoint)
    client: Callable[..., Any]
    outputs: Mapping[str, str]
    #: said in messages: "stack FreshTrackOps in eu-west-1", "the local plane (pid 123)"
    where: str
    #: the local plane's published notifications (a deployed plane sends them to its SNS subscribers)
    notifications: Callable[[], list[dict[str, Any]]] | None = field(default=None)

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise NotFound(f"{self.where} has no output {key} (is that workflow deployed?)")
        return value

    def state_machine_arn(self, workflow: str) -> str:
        return self.output(f"{camel(workflow)}StateMachineArn")

    def workflows(self) -> dict[str, str]:
        """workflow name -> state machine ARN, for every workflow deployed."""
        from opsctl.inputs import INPUT_MODELS

        found = {name: self.outputs.get(f"{camel(name)}StateMachineArn", "") for name in INPUT_MODELS}
        return {name: arn for name, arn in found.items() if arn}

    @property
    def table(self) -> str:
        return self.output("OpsTableName")

    @property
    def bucket(self) -> str:
        return self.output("BackupBucketName")

    def hosts(self) -> list[str]:
        """The target ids of the deployed inventory (the targets parameter the workflows read)."""
        from freshtrack_ops.config import TargetSet

        raw = self.client("ssm").get_parameter(Name=self.output("TargetsParameterName"))["Parameter"]["Value"]
        return [target.id for target in TargetSet.model_validate(json.loads(raw)).targets]


def aws_backend(stack: str | None, region: str | None) -> Backend:
    """The deployed control plane of deployment ``stack`` (default FRESHTRACK_OPS_STACK, else FreshTrackOps)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    name = stack or os.environ.get("FRESHTRACK_OPS_STACK") or DEFAULT_STACK
    try:
        session = boto3.session.Session(region_name=region)
        cloudformation = session.client("cloudformation")
        outputs: dict[str, str] = {}
        for suffix in STACK_SUFFIXES:
            described = cloudformation.describe_stacks(StackName=f"{name}{suffix}")["Stacks"][0]
            outputs.update({item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])})
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise Unreachable(
            f"stack {name}{suffix} in {session.region_name or 'no region'}: {message} "
            "(deploy it, or name the deployment with --stack / FRESHTRACK_OPS_STACK)"
        ) from None
    except BotoCoreError as exc:  # no credentials, no region, no network
        raise Unreachable(f"AWS: {exc} (or use --local for the embedded local plane)") from None

    return Backend(client=session.client, outputs=outputs, where=f"stack {name} in {session.region_name}")


def local_backend(on_starting: Callable[[], None] | None = None) -> Backend:
    """The embedded local plane, in its background process (started on first use: ``opsctl local down`` ends it)."""
    from opsctl.local import daemon

    try:
        endpoint = daemon.ensure_running(on_starting=on_starting)
    except daemon.PlaneStartFailed as exc:
        raise Unreachable(str(exc)) from None
    return Backend(
        client=lambda service: daemon.client(endpoint, service),
        outputs=endpoint.outputs,
        where=f"the local plane (pid {endpoint.pid})",
        notifications=lambda: daemon.notifications(endpoint),
    )
