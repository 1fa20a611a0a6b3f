"""Tasks of retention (daily ``protect``) and of the RPO guard (hourly ``rpo``); see docs/retention.md.

Both are invoked directly by EventBridge Scheduler with ``{}`` (every target) or ``{"host": "<id>"}``.
A failure on one target does not stop the others; the task still fails at the end, naming them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from freshtrack_ops import runtime
from freshtrack_ops.adapters.s3_tags import S3TagStore
from freshtrack_ops.errors import OpsError
from freshtrack_ops.observability import logger, tracer
from freshtrack_ops.retention.models import (
    HostRetention,
    HostRpo,
    PolicyOut,
    ProtectOutput,
    RetentionEvent,
    RpoOutput,
)
from freshtrack_ops.retention.policy import RetentionPolicy
from freshtrack_ops.retention.protect import protect_host
from freshtrack_ops.retention.rpo import METRIC_NAME, NAMESPACE, rpo_of

T = TypeVar("T")


class RetentionFailed(OpsError):
    """The task failed for at least one target (the others were processed)."""


def _hosts(event: RetentionEvent) -> list[str]:
    targets = runtime.targets()
    if event.host is not None:
        return [targets.get(event.host).id]  # unknown host: ConfigError naming it
    return [target.id for target in targets.targets]


def _each_host(hosts: list[str], work: Callable[[str], T]) -> dict[str, T]:
    results: dict[str, T] = {}
    failures: dict[str, str] = {}
    for host in hosts:
        try:
            results[host] = work(host)
        except Exception as exc:
            logger.exception("retention task failed for a host", extra={"host": host})
            failures[host] = f"{type(exc).__name__}: {exc}"
    if failures:
        raise RetentionFailed("; ".join(f"{host}: {why}" for host, why in failures.items()))
    return results


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=RetentionEvent)
def protect(event: RetentionEvent, context: LambdaContext) -> dict[str, Any]:
    settings = runtime.settings()
    policy = RetentionPolicy(
        keep_last_verified=settings.keep_last_verified,
        keep_weekly=settings.keep_weekly,
        keep_monthly=settings.keep_monthly,
    )
    catalog = runtime.catalog()
    tags = S3TagStore(runtime.client("s3"), settings.backup_bucket)
    now = datetime.now(UTC)

    def work(host: str) -> HostRetention:
        result = protect_host(host, catalog, tags, policy, now)
        logger.info(
            "retention applied",
            extra={
                "host": host,
                "protected": len(result.protected),
                "expiring": len(result.expiring),
                "forgotten": list(result.forgotten),
                "retagged": len(result.retagged),
            },
        )
        if result.missing_manifests:
            logger.warning("backups without manifest object", extra={"keys": list(result.missing_manifests)})
        return result

    output = ProtectOutput(
        policy=PolicyOut(
            keep_last_verified=policy.keep_last_verified,
            keep_weekly=policy.keep_weekly,
            keep_monthly=policy.keep_monthly,
        ),
        hosts=_each_host(_hosts(event), work),
    )
    return output.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=RetentionEvent)
def rpo(event: RetentionEvent, context: LambdaContext) -> dict[str, Any]:
    catalog = runtime.catalog()
    now = datetime.now(UTC)

    def work(host: str) -> HostRpo:
        result = rpo_of(catalog.list_backups(host), now)
        # one EMF document per host, so each carries its own ``host`` dimension
        with single_metric(
            name=METRIC_NAME, unit=MetricUnit.NoUnit, value=result.metric_value, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="host", value=host)
        if result.age_hours is None:
            logger.warning("no verified backup", extra={"host": host})
        return result

    return RpoOutput(metric=METRIC_NAME, hosts=_each_host(_hosts(event), work)).model_dump(mode="json")
