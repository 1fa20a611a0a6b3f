"""A vertical scale's request and its instance task's event (the manual's "Scaling → Vertical Scaling")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from freshtrack_ops.maintenance.settings import EC2_INSTANCE_ID_PATTERN, InstanceType
from freshtrack_ops.models import HostRef, Reason, Strict

Ec2InstanceId = Annotated[str, StringConstraints(pattern=EC2_INSTANCE_ID_PATTERN)]

#: what the scale workflow's instance task does: each returns at once; the workflow polls ``describe`` in a loop
InstanceAction = Literal["describe", "stop", "start", "set-type"]


class ScaleRequest(Strict):
    """Execution input of the scale workflow (opsctl, the console)."""

    host: HostRef = Field(description="Target id from the deployment configuration.")
    instance_type: InstanceType = Field(
        description="The new EC2 instance type: one of maintenance.allowed_instance_types."
    )
    confirm: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The target's id, typed: the instance is stopped, so the service goes down."
    )
    reason: Reason = Field(default="", description="Free text kept in the audit entry and notification.")
    dry_run: bool = Field(default=False, description="List what would be done; change nothing.")


class InstanceEvent(Strict):
    """The scale workflow's instance task: one EC2 action on the target's instance."""

    action: InstanceAction
    host: HostRef
    instance_id: Ec2InstanceId
    instance_type: InstanceType | None = Field(default=None, validate_default=True)

    @field_validator("instance_type")
    @classmethod
    def _only_for_set_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        action = info.data.get("action")
        if action == "set-type" and value is None:
            raise ValueError("set-type needs the type to set")
        if action is not None and action != "set-type" and value is not None:
            raise ValueError(f"only set-type takes one, not {action}")
        return value
