"""Task handler of the scale workflow's EC2 side: one action on the target's instance per invocation.

Event: ``{"action": "describe"|"stop"|"start"|"set-type", "host": <target id>, "instance_id": "i-...",
"instance_type": <set-type only>}``. Result: the instance after the action, ``{"instance_id", "state",
"instance_type", "availability_zone"}``. Every action returns as soon as EC2 took it (stop answers ``stopping``,
start ``pending``): the workflow waits in Wait states and polls ``describe``, never in a sleeping task.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.config import describe_validation_error
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.maintenance.scale import run_instance_action
from freshtrack_ops.maintenance.scale_models import InstanceEvent
from freshtrack_ops.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def instance(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = InstanceEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
    target = runtime.targets().get(parsed.host)
    info = run_instance_action(parsed, target, runtime.instances())
    logger.info(
        "scale instance action",
        extra={"host": parsed.host, "action": parsed.action, "instance_id": info.instance_id, "state": info.state,
               "instance_type": info.instance_type},
    )  # fmt: skip
    return dataclasses.asdict(info)
