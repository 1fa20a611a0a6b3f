"""A vertical scale's instance task event (the manual's "Scaling → Vertical Scaling"; the request is
``maintenance.models.ScaleRequest``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from freshtrack_ops.fields import HostRef, Strict
from freshtrack_ops.maintenance.settings import EC2_INSTANCE_ID_PATTERN, InstanceType

Ec2InstanceId = Annotated[str, StringConstraints(pattern=EC2_INSTANCE_ID_PATTERN)]

#: what the scale workflow's instance task does: each returns at once; the workflow polls ``describe`` in a loop
InstanceAction = Literal["describe", "stop", "start", "set-type"]


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
