"""The replacement server of a disaster recovery: launch, wait until it runs and answers, register, terminate.

Waiting is the state machine's (a Wait state between two ``status`` calls): a Lambda never sleeps through a boot.
``status`` is ready only when the instance runs AND answers: over SSH a login that checks the host key pinned
from the instance's own console output (never trusted on first use: ``dr/host_key.py``), over SSM the agent
online in ``DescribeInstanceInformation``. Past its time limit it raises ``ReplacementNotReady``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from freshtrack_ops.adapters.ec2 import GONE_STATES, Ec2Instances, InstanceView
from freshtrack_ops.config import DrSettings, SshStandby, SsmStandby, Target, server_key
from freshtrack_ops.dr.host_key import pinned_host_key
from freshtrack_ops.dr.inventory import move
from freshtrack_ops.dr.models import (
    DisasterRecoveryPlan,
    InstanceStatus,
    LaunchedInstance,
    ProvisionSpec,
    RegisteredReplacement,
    StandbySpec,
)
from freshtrack_ops.dr.plan import ensure_not_primary
from freshtrack_ops.errors import HostKeyUnavailable, InvalidInput, ReplacementNotReady

#: tries an SSH login to a booted replacement (False: not yet, True: in)
Prober = Callable[[Target], bool]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def launch(plan: DisasterRecoveryPlan, ec2: Ec2Instances, clock: Clock = _now) -> LaunchedInstance:
    spec = _provision(plan)
    instance_id = ec2.launch(spec.launch_template, spec.tags, client_token=plan.dr_id)
    return LaunchedInstance(instance_id=instance_id, launched_at=clock())


def _provision(plan: DisasterRecoveryPlan) -> ProvisionSpec:
    if not isinstance(plan.replacement, ProvisionSpec):
        raise InvalidInput(f"replacement: {plan.replacement.standby_id!r} is a standby, not a server to launch")
    return plan.replacement


def status(
    plan: DisasterRecoveryPlan,
    primary: Target,
    instance: LaunchedInstance,
    ec2: Ec2Instances,
    *,
    probe: Prober,
    layout: Callable[[str], dict[str, Any]],
    clock: Clock = _now,
) -> InstanceStatus:
    """Whether the launched instance runs and answers; ReplacementNotReady past the time limits."""
    spec = _provision(plan)
    waited = (clock() - instance.launched_at).total_seconds()
    view = ec2.describe(instance.instance_id)

    def not_yet(detail: str, limit_s: int) -> InstanceStatus:
        if waited > limit_s:
            raise ReplacementNotReady(
                f"instance {instance.instance_id}: {detail} after {waited:.0f} s (limit {limit_s} s)"
            )
        return InstanceStatus(
            ready=False, state=view.state, instance_id=instance.instance_id, waited_s=waited, detail=detail
        )

    if view.state in GONE_STATES:
        raise ReplacementNotReady(f"instance {instance.instance_id} is {view.state}: EC2 stopped it while it booted")
    if view.state != "running":
        return not_yet(f"state {view.state}", spec.running_timeout_s)
    address = _dns_value(spec, view)
    ensure_not_primary(primary, instance_id=view.instance_id, address=address)
    limit = spec.running_timeout_s + spec.reachable_timeout_s
    if spec.transport == "ssm":
        if not ec2.ssm_online(view.instance_id):
            return not_yet("SSM Agent not online yet", limit)
    else:
        try:
            access = _ssh_access(spec, view, ec2.console(view.instance_id), layout)
        except HostKeyUnavailable as exc:
            return not_yet(str(exc), limit)
        if not probe(move(primary, access, new_id="dr-probe")):
            return not_yet("SSH does not answer yet", limit)
    return InstanceStatus(ready=True, state=view.state, instance_id=view.instance_id, waited_s=waited)


def _dns_value(spec: ProvisionSpec, view: InstanceView) -> str:
    address = view.public_ip if spec.connect_via == "public-ip" else view.private_ip
    if not address:
        raise ReplacementNotReady(
            f"instance {view.instance_id} has no {spec.connect_via} address (connect_via: {spec.connect_via}; check "
            "the launch template's subnet and network interface settings)"
        )
    return address


def _ssh_access(
    spec: ProvisionSpec, view: InstanceView, console: str, layout: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """The SSH target fields of a running instance: its address, the login, the key pinned from its console."""
    assert spec.host_key_type is not None and spec.private_key_secret_arn is not None
    fields: dict[str, Any] = {
        "transport": "ssh",
        "address": _dns_value(spec, view),
        "port": spec.ssh_port,
        "user": spec.ssh_user,
        "private_key_secret_arn": spec.private_key_secret_arn,
        "host_public_key": pinned_host_key(console, spec.host_key_type),
    }
    return fields | layout(view.instance_id)


def register_provisioned(
    plan: DisasterRecoveryPlan,
    primary: Target,
    dr: DrSettings,
    instance: LaunchedInstance,
    ec2: Ec2Instances,
    *,
    layout: Callable[[str], dict[str, Any]],
) -> tuple[Target, RegisteredReplacement]:
    spec = _provision(plan)
    view = ec2.describe(instance.instance_id)
    if view.state != "running":
        raise ReplacementNotReady(f"instance {instance.instance_id} is {view.state}, not running")
    dns_value = _dns_value(spec, view)
    if spec.transport == "ssm":
        fields: dict[str, Any] = {"transport": "ssm", "instance_id": view.instance_id} | layout(view.instance_id)
    else:
        fields = _ssh_access(spec, view, ec2.console(view.instance_id), layout)
    target = replacement_target(primary, dr, plan.replacement_id, fields)
    ensure_not_primary(primary, instance_id=view.instance_id, address=dns_value)
    return target, RegisteredReplacement(
        replacement_id=plan.replacement_id,
        kind="provision",
        transport=spec.transport,
        server=server_key(target),
        dns_value=dns_value,
        instance_id=view.instance_id,
    )


def register_standby(
    plan: DisasterRecoveryPlan, primary: Target, dr: DrSettings, layout: Callable[[str], dict[str, Any]]
) -> tuple[Target, RegisteredReplacement]:
    if not isinstance(plan.replacement, StandbySpec):
        raise InvalidInput("replacement: not a standby")
    standby = next((s for s in dr.standbys if s.id == plan.replacement.standby_id), None)
    if standby is None:  # the configuration changed since the plan
        raise InvalidInput(f"replacement: {plan.replacement.standby_id!r} is no longer a standby of {primary.id!r}")
    access = standby.model_dump(exclude={"id"}) | layout(standby.id)
    target = replacement_target(primary, dr, standby.id, access)
    # an SSM-only standby has no address of its own in the configuration: a drill onto it is fine, a recovery
    # onto it cannot move the DNS record (DrDns refuses an empty value before changing anything)
    dns_value = standby.address if isinstance(standby, SshStandby) else ""
    return target, RegisteredReplacement(
        replacement_id=standby.id,
        kind="standby",
        transport=standby.transport,
        server=server_key(standby),
        dns_value=dns_value,
        instance_id=standby.instance_id if isinstance(standby, SsmStandby) else None,
    )


def replacement_target(primary: Target, dr: DrSettings, replacement_id: str, access: dict[str, Any]) -> Target:
    """The replacement as a target: the primary's settings (app dir, database, services, domain...) on the new
    server, without a ``dr`` section of its own; its health checked from the host itself (the domain still
    points at the old server)."""
    health_url = dr.replacement_health_url or access.get("health_url") or primary.effective_health_url
    fields = access | {"health_check_from": "host", "health_url": health_url, "dr": None}
    return move(primary, fields, new_id=replacement_id)
