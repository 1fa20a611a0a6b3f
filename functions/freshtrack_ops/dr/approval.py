"""Approval of a recovery's DNS change (``dr.approval``): asked once the replacement is restored and verified, the
task token kept in the approval store (never in a message or log), answered with ``opsctl approve|reject`` like a
restore's."""

from __future__ import annotations

import time
from collections.abc import Callable

from freshtrack_ops.dr.models import DrApprovalEvent
from freshtrack_ops.ports import ApprovalStore, Notifier
from freshtrack_ops.restore.approval import keep_and_ask


def request_recovery_approval(
    event: DrApprovalEvent, store: ApprovalStore, notifier: Notifier | None, clock: Callable[[], float] = time.time
) -> str:
    plan, replacement = event.plan, event.replacement
    record = plan.dns.record_name if plan.dns else plan.domain
    return keep_and_ask(
        plan,
        event.task_token,
        store,
        notifier,
        clock=clock,
        subject="FreshTrack disaster recovery needs approval",
        message=(
            f"APPROVAL NEEDED: move host {plan.host!r} onto the new server {replacement.replacement_id} "
            f"({replacement.dns_value}). It runs the app at {plan.revision} with backup {plan.backup.backup_id} "
            f"restored, its row counts equal to the manifest and its health check passed. Approving points {record} "
            f"at {replacement.dns_value} and makes it the host's server (the old one is retired). "
            f"Reason: {plan.reason or '(none given)'}.\n"
            f"Without an answer within {plan.approval_timeout_s} s nothing is moved (the new server is kept)."
        ),
    )
