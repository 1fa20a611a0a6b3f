"""Task handlers of the disaster-recovery workflow (its host steps: handlers/dr_host.py and the restore's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.adapters.ec2 import Ec2Instances
from freshtrack_ops.adapters.route53 import Route53Records
from freshtrack_ops.adapters.undo_log import UndoEntry
from freshtrack_ops.config import DrSettings, Target, TargetSet
from freshtrack_ops.dr import dns as dns_change
from freshtrack_ops.dr import replacement as servers
from freshtrack_ops.dr.approval import request_recovery_approval
from freshtrack_ops.dr.inventory import Promotion, Replacement, Retirement
from freshtrack_ops.dr.models import (
    DR_ID_TAG,
    DisasterRecoveryPlan,
    DnsEvent,
    DrApprovalEvent,
    LaunchedInstance,
    PromoteEvent,
    PromoteResult,
    RecordEvent,
    ReplacementEvent,
    ReplacementOutcome,
    ValidateDisasterRecoveryEvent,
)
from freshtrack_ops.dr.plan import plan_disaster_recovery
from freshtrack_ops.dr.record import history_body, summarize
from freshtrack_ops.errors import ConfigError, InvalidInput
from freshtrack_ops.models import Manifest
from freshtrack_ops.observability import logger, metrics, tracer
from freshtrack_ops.ports import CatalogEntry


def _app_version(entry: CatalogEntry) -> str:
    return Manifest.model_validate_json(runtime.store().get_text(entry.manifest_key)).app_version


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ValidateDisasterRecoveryEvent)
def validate(event: ValidateDisasterRecoveryEvent, context: LambdaContext) -> dict[str, Any]:
    plan = plan_disaster_recovery(event, runtime.targets(), runtime.catalog(), _app_version)
    logger.info(
        "disaster recovery planned",
        extra={"dr_id": plan.dr_id, "host": plan.host, "mode": plan.mode, "backup_id": plan.backup.backup_id,
               "replacement": plan.replacement_id},
    )  # fmt: skip
    return plan.model_dump(mode="json")


def _primary(plan: DisasterRecoveryPlan) -> tuple[TargetSet, Target, DrSettings]:
    targets = runtime.targets()
    primary = targets.get(plan.host)
    if primary.dr is None:
        raise ConfigError(f"host: target {plan.host!r} no longer has a dr section")
    return targets, primary, primary.dr


def _ec2() -> Ec2Instances:
    return Ec2Instances(runtime.client("ec2"), runtime.client("ssm"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=ReplacementEvent)
def replacement(event: ReplacementEvent, context: LambdaContext) -> dict[str, Any]:
    plan = event.plan
    if event.action == "launch":
        if plan.mode == "drill":
            # before RunInstances: an execution aborted from here on has its drill server terminated by the
            # janitor (found by the DR id tag, so even one whose launch answer was lost)
            runtime.undo_log().record(
                plan.execution_id,
                UndoEntry(
                    key=f"instance#{plan.dr_id}",
                    kind="instance",
                    step="dr-replacement",
                    host=plan.host,
                    event=plan.dr_id,
                    context=plan.replacement_id,
                ),
            )
        launched = servers.launch(plan, _ec2())
        logger.info("replacement launched", extra={"dr_id": plan.dr_id, "instance_id": launched.instance_id})
        return launched.model_dump(mode="json")
    if event.action in ("terminate", "release"):
        return _end(plan, event.instance, terminate=event.action == "terminate").model_dump(mode="json")
    _, primary, dr = _primary(plan)
    if event.action == "status":
        status = servers.status(
            plan, primary, _instance(event), _ec2(), probe=runtime.ssh_answers, layout=runtime.server_layout
        )
        return status.model_dump(mode="json")
    if plan.replacement.kind == "provision":
        target, registered = servers.register_provisioned(
            plan, primary, dr, _instance(event), _ec2(), layout=runtime.server_layout
        )
    else:
        target, registered = servers.register_standby(plan, primary, dr, runtime.server_layout)
    runtime.server_registry().register(
        Replacement(
            target=target.model_dump(mode="json"),
            dr_id=plan.dr_id,
            host=plan.host,
            registered_at=datetime.now(UTC),
        )
    )
    logger.info("replacement registered", extra={"dr_id": plan.dr_id, "replacement": registered.replacement_id})
    return registered.model_dump(mode="json")


def _instance(event: ReplacementEvent) -> LaunchedInstance:
    if event.instance is None:
        raise InvalidInput(f"instance: the {event.action} action needs the launched instance")
    return event.instance


def _end(plan: DisasterRecoveryPlan, instance: LaunchedInstance | None, *, terminate: bool) -> ReplacementOutcome:
    """Forget the replacement's registration; ``terminate``: and terminate every instance of this DR (found by
    its dr-id tag too, so an instance whose launch answer was lost goes as well). Repeatable."""
    runtime.server_registry().forget(plan.replacement_id)
    if not terminate or plan.replacement.kind != "provision":
        return ReplacementOutcome(forgotten=plan.replacement_id)
    ec2 = _ec2()
    ids = {view.instance_id for view in ec2.tagged(DR_ID_TAG, plan.dr_id)}
    if instance is not None:
        ids.add(instance.instance_id)
    ec2.terminate(sorted(ids))
    if plan.mode == "drill":
        runtime.undo_log().resolve(plan.execution_id, [f"instance#{plan.dr_id}"])
    logger.info("replacement terminated", extra={"dr_id": plan.dr_id, "instances": sorted(ids)})
    return ReplacementOutcome(terminated=sorted(ids), forgotten=plan.replacement_id)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=DrApprovalEvent)
def approval(event: DrApprovalEvent, context: LambdaContext) -> dict[str, Any]:
    request_recovery_approval(event, runtime.approval_store(), runtime.notifier())
    logger.info("approval requested", extra={"dr_id": event.plan.dr_id, "host": event.plan.host})
    return {"requested": True}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=DnsEvent)
def dns(event: DnsEvent, context: LambdaContext) -> dict[str, Any]:
    route53 = Route53Records(runtime.client("route53"))
    if event.action == "upsert":
        started = dns_change.upsert(event.plan, event.replacement, route53)
        logger.info("dns change submitted", extra={"dr_id": event.plan.dr_id, "change_id": started.change_id})
        return started.model_dump(mode="json")
    if event.change is None:
        raise InvalidInput("change: the status action needs the change upsert started")
    return dns_change.status(event.plan, event.change, route53).model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=PromoteEvent)
def promote(event: PromoteEvent, context: LambdaContext) -> dict[str, Any]:
    from freshtrack_ops.config import server_key
    from freshtrack_ops.dr.inventory import ACCESS_FIELDS, LAYOUT_FIELDS

    plan, registered = event.plan, event.replacement
    targets, _, _ = _primary(plan)
    new_server = targets.get(registered.replacement_id)
    # the configured entry (a promotion applies while the file names the server it replaced)
    configured = next(t for t in targets.targets if t.id == plan.host)
    layout = runtime.server_layout(registered.instance_id or registered.replacement_id)
    fields = new_server.model_dump(include=set(ACCESS_FIELDS)) | {k: v for k, v in layout.items() if k in LAYOUT_FIELDS}
    now = datetime.now(UTC)
    old = server_key(configured)
    runtime.server_registry().promote(
        Promotion(
            host=plan.host,
            fields=fields,
            replaces=_configured_server(plan.host),
            server=registered.server,
            dr_id=plan.dr_id,
            promoted_at=now,
        ),
        Retirement(server=old, host=plan.host, dr_id=plan.dr_id, retired_at=now),
        registered.replacement_id,
    )
    logger.info("target promoted", extra={"dr_id": plan.dr_id, "host": plan.host, "retired": old})
    return PromoteResult(host=plan.host, server=registered.server, retired=old).model_dump(mode="json")


def _configured_server(host: str) -> str:
    """The server the configuration file names for ``host`` (a second recovery replaces a promoted server: the
    new promotion must still match the file's entry, not the server the first one promoted)."""
    from freshtrack_ops.config import server_key

    for target in runtime.configured_targets().targets:
        if target.id == host:
            return server_key(target)
    raise ConfigError(f"host: target {host!r} is no longer in the configuration")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_parser(model=RecordEvent)
def record(event: RecordEvent, context: LambdaContext) -> dict[str, Any]:
    result = summarize(event)
    plan = event.plan
    runtime.server_registry().record_recovery(
        plan.host, plan.started_at.isoformat(), plan.dr_id, history_body(event, result)
    )
    metrics.add_dimension(name="host", value=plan.host)
    kind = "Drill" if plan.mode == "drill" else "Recovery"
    outcome = "Succeeded" if event.outcome == "succeeded" else "Failed"
    plural = "Drills" if kind == "Drill" else "Recoveries"
    metrics.add_metric(name=f"Dr{plural}{outcome}", unit=MetricUnit.Count, value=1)
    if event.outcome == "succeeded":
        metrics.add_metric(name=f"Dr{kind}RtoSeconds", unit=MetricUnit.Seconds, value=result.rto_s)
        metrics.add_metric(name=f"Dr{kind}RpoSeconds", unit=MetricUnit.Seconds, value=result.rpo_s)
    logger.info("disaster recovery recorded", extra={"dr_id": plan.dr_id, "summary": result.summary})
    return result.model_dump(mode="json")
