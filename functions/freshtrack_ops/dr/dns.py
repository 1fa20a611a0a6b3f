"""A recovery's DNS cut-over: UPSERT the domain's record onto the replacement, then wait for INSYNC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from freshtrack_ops.adapters.route53 import Route53Records
from freshtrack_ops.dr.models import DisasterRecoveryPlan, DnsChangeStarted, DnsStatus, RegisteredReplacement
from freshtrack_ops.errors import DnsChangeTimeout, InvalidInput


def _now() -> datetime:
    return datetime.now(UTC)


def upsert(
    plan: DisasterRecoveryPlan,
    replacement: RegisteredReplacement,
    route53: Route53Records,
    clock: Callable[[], datetime] = _now,
) -> DnsChangeStarted:
    if plan.dns is None:
        raise InvalidInput("mode: a drill changes no DNS")
    if not replacement.dns_value:
        raise InvalidInput(
            f"replacement: {replacement.replacement_id!r} has no address the record {plan.dns.record_name} could "
            "point at (an SSM-only standby)"
        )
    change_id = route53.upsert(
        plan.dns.hosted_zone_id,
        plan.dns.record_name,
        plan.dns.record_type,
        ttl=plan.dns.ttl,
        value=replacement.dns_value,
        comment=f"FreshTrack Ops disaster recovery {plan.dr_id}: {plan.host} onto {replacement.replacement_id}",
    )
    return DnsChangeStarted(
        change_id=change_id, submitted_at=clock(), record_name=plan.dns.record_name, value=replacement.dns_value
    )


def status(
    plan: DisasterRecoveryPlan,
    change: DnsChangeStarted,
    route53: Route53Records,
    clock: Callable[[], datetime] = _now,
) -> DnsStatus:
    assert plan.dns is not None
    waited = (clock() - change.submitted_at).total_seconds()
    if route53.insync(change.change_id):
        return DnsStatus(insync=True, change_id=change.change_id, waited_s=waited)
    if waited > plan.dns.insync_timeout_s:
        raise DnsChangeTimeout(
            f"record {change.record_name} -> {change.value}: change {change.change_id} still PENDING after "
            f"{waited:.0f} s (limit {plan.dns.insync_timeout_s} s); the record IS changed, resolvers follow as "
            "Route 53 propagates it"
        )
    return DnsStatus(insync=False, change_id=change.change_id, waited_s=waited)
