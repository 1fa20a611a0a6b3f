"""The RestoreSwap task of the restore by swap: the swap-or-drop decision, the catalog of aside databases and the
leftovers failed restores and test restores hand over to the drop-asides run (one function for all: each task is a
function, a role, a policy and a log group of the control plane's 500 resources)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.models import (
    AsideForgetEvent,
    AsideRecordEvent,
    AsidesDueEvent,
    AsidesDueResult,
    LeftoverRecordEvent,
    RestoreDecideEvent,
    RestorePathResult,
    RestoreSwapEvent,
)
from freshtrack_ops.observability import logger, tracer
from freshtrack_ops.restore import aside, leftover
from freshtrack_ops.restore.swap import choose_restore_path
from freshtrack_ops.restore.verify import load_manifest


def decide(event: RestoreDecideEvent) -> RestorePathResult:
    manifest = load_manifest(event.plan.backup, runtime.store())
    decision = choose_restore_path(
        event.plan.swap_enabled,
        event.preflight.pgdata_free_mb,
        event.preflight.database_size_bytes,
        manifest.database_size_bytes,
    )
    logger.info("restore path", extra={"host": event.plan.host, "path": decision.path, "reason": decision.reason})
    return RestorePathResult(
        path=decision.path, needed_mb=decision.needed_mb, free_mb=decision.free_mb, reason=decision.reason
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=RestoreSwapEvent)  # a discriminated union (powertools parses with a TypeAdapter)
def handler(event: RestoreSwapEvent, context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, RestoreDecideEvent):
        return decide(event).model_dump(mode="json")
    store = runtime.aside_catalog()
    if isinstance(event, AsideRecordEvent):
        record = aside.record_aside(event, store, aside.utc_now())
        logger.info("aside recorded", extra={"host": record.host, "aside": record.name})
        return record.model_dump(mode="json")
    if isinstance(event, AsidesDueEvent):
        due = aside.due_asides(runtime.targets(), store, aside.utc_now(), event.request.host)
        return AsidesDueResult(asides=due).model_dump(mode="json")
    if isinstance(event, AsideForgetEvent):
        result = aside.settle(event, store)
        logger.info(
            f"{event.kind} dropped" if result.error is None else f"{event.kind} kept", extra={"database": event.name}
        )
        return result.model_dump(mode="json")
    if isinstance(event, LeftoverRecordEvent):
        recorded = leftover.record_leftover(event, runtime.targets(), store, aside.utc_now())
        logger.warning("leftover handed to drop-asides", extra={"host": event.host, "database": event.name})
        return recorded.model_dump(mode="json")
    return aside.report(event).model_dump(mode="json")
