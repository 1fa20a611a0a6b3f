"""What a finished maintenance workflow says: the audit entry's outcome, the notification's words (what changed,
or exactly where it stopped and what state the host is in) and, for a failure, the error the execution fails with."""

from __future__ import annotations

from collections.abc import Mapping

from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.maintenance.models import MaintenanceOutcomeEvent, MaintenancePlan, MaintenanceRecord
from freshtrack_ops.maintenance.plan import LOCK_WAIT_S
from freshtrack_ops.redact import redact

_SUBJECTS = {
    "succeeded": "FreshTrack {workflow} on {host}: done",
    "dry-run": "FreshTrack {workflow} on {host}: dry run",
    "gave-way": "FreshTrack {workflow} on {host} not run: host locked",
    "failed": "FreshTrack {workflow} on {host} FAILED",
    "reverted": "FreshTrack {workflow} on {host} FAILED: reverted",
    "revert-failed": "FreshTrack {workflow} on {host} FAILED, revert FAILED",
    "host-lost": "FreshTrack {workflow} on {host}: HOST NOT BACK",
}
#: what each outcome means for the host, in one paragraph
_STATE = {
    "failed": "Nothing was changed on the host: it runs as before.",
    "reverted": "The change was undone and the host verified again: it runs as before the maintenance.",
    "revert-failed": "The change could NOT be undone: the host needs a person now. The host lock is kept so that no "
    "other workflow touches it; release it (opsctl) once the host is fixed.",
    "host-lost": "The host did not answer again within the time limit after it went down. Check the server's "
    "console (EC2: get-console-output, the instance's status checks); the pre-maintenance backup below is the way "
    "back if it has to be rebuilt (disaster-recovery workflow). The host lock is kept.",
}

#: an OS update is not undone (packages are not downgraded automatically): its way back starts the services again
_OS_UPDATE_REVERTED = (
    "Packages are not downgraded automatically: the services were started again (docker compose up -d) and "
    "verified. The upgraded packages stay (below); the pre-maintenance backup is the way back for the data."
)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _backup_lines(reports: Mapping[str, object]) -> list[str]:
    backup = _mapping(reports.get("backup"))
    if not backup.get("backup_id"):
        return []
    return [f"Pre-maintenance backup: {backup['backup_id']} ({backup.get('dump_key', '')}), verified before the change"]


def _change_lines(plan: MaintenancePlan, reports: Mapping[str, object]) -> list[str]:
    workflow = plan.workflow
    change = _mapping(reports.get("change"))
    lines: list[str] = []
    if workflow == "os-update" and change:
        upgraded = change.get("upgraded")
        packages = upgraded if isinstance(upgraded, list) else []
        lines.append(f"Upgraded {len(packages)} package(s):")
        lines += [
            f"  {p.get('name')} {p.get('from_version')} -> {p.get('to_version')}"
            for p in packages
            if isinstance(p, dict)
        ]
        rebooted = bool(change.get("rebooted")) or bool(_mapping(reports.get("reboot")))
        lines.append(f"Reboot required: {'yes' if change.get('reboot_required') else 'no'}; rebooted: "
                     f"{'yes' if rebooted else 'no'}")  # fmt: skip
    elif workflow == "db-pool" and change:
        lines.append(f"DB_POOL_SIZE: {change.get('previous') or 'unset'} -> {change.get('size')}")
    elif workflow == "rotate-secrets" and change:
        lines.append(f"Rotated: {', '.join(str(s) for s in _list(change.get('rotated')))} (values never shown)")
    elif workflow == "scale":
        lines += _scale_lines(plan, reports)
    return lines


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _scale_lines(plan: MaintenancePlan, reports: Mapping[str, object]) -> list[str]:
    """The type before and after and, once the host answered, its size (the probe's nproc, MemTotal, df /)."""
    lines = [f"Instance type: {plan.previous_instance_type} -> {plan.instance_type}"]
    size = _mapping(reports.get("probe"))
    if size:
        lines.append(
            f"Now: {size.get('cpus')} CPU(s), {size.get('memory_mb')} MB memory, {size.get('disk_gb')} GB disk"
        )
    return lines


def _verify_lines(reports: Mapping[str, object]) -> list[str]:
    health = _mapping(reports.get("health"))
    return [f"Health: {health['summary']}"] if health.get("summary") else []


def describe(event: MaintenanceOutcomeEvent) -> MaintenanceRecord:
    plan, outcome, reports = event.plan, event.outcome, event.reports
    lines = [plan.headline, ""]
    name, cause = "", ""
    if event.error:
        name, cause = error_fields(CaughtError.model_validate(event.error))
    if outcome == "dry-run":
        lines += ["Dry run: nothing was changed and no lock taken. It would run:"] + [f"  {c}" for c in plan.commands]
    elif outcome == "gave-way":
        cause = f"{cause}; waited {LOCK_WAIT_S} s for the host lock: nothing was run"
        lines += ["Another workflow holds the host lock, so nothing was run. Start it again once that is done.",
                  f"Lock: {cause}"]  # fmt: skip
    elif outcome == "succeeded":
        lines += _backup_lines(reports) + _change_lines(plan, reports) + _verify_lines(reports)
    else:
        state = _OS_UPDATE_REVERTED if (plan.workflow, outcome) == ("os-update", "reverted") else _STATE[outcome]
        lines += [f"Stopped at: {event.stage or 'unknown state'}", f"Error: {name}: {cause[:800]}", state]
        if event.revert_error:
            revert_name, revert_cause = error_fields(CaughtError.model_validate(event.revert_error))
            lines.append(f"Revert error: {revert_name}: {revert_cause[:600]}")
        lines += _backup_lines(reports) + _change_lines(plan, reports)
    lines += ["", f"Audit id: {plan.audit_id}. Execution {event.execution_id}."]
    subject = _SUBJECTS[outcome].format(workflow=plan.workflow, host=plan.host)[:100]
    return MaintenanceRecord(subject=subject, message=redact("\n".join(lines)), error_name=name, error_cause=cause)
