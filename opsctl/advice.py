"""What to do next after a failed execution: the error's meaning (its class docstring in freshtrack_ops.errors,
the same names the state machines catch) and, where one exists, the runbook for it."""

from __future__ import annotations

RUNBOOKS = "docs/runbooks.md"

#: error name -> (runbook anchor, the first thing to do)
_NEXT: dict[str, tuple[str, str]] = {
    "RollbackFailed": (
        "an-update-whose-rollback-failed",
        "the host lock is kept on purpose: follow the runbook, then release the lock as it says",
    ),
    "DatabaseStateRefused": (
        "swap-back-a-restore",
        "the restore could not tell which database is live: check the host before anything else runs",
    ),
    "HostNotBack": (
        "a-host-that-did-not-come-back-after-a-reboot-or-a-resize-maintenancehostnotback",
        "the host lock is kept: bring the server back (console, serial log), then run the daily check",
    ),
    "DnsChangeTimeout": (
        "a-disaster-recovery-failed-after-the-dns-change",
        "check where the domain points before retrying the recovery",
    ),
    "DisasterRecoveryFailed": ("a-drill-failed", "the execution's cause says which step failed"),
    "DumpFailed": ("a-backup-failed", "the previous verified backup is untouched; fix the cause and run it again"),
    "UploadFailed": ("a-backup-failed", "nothing partial is kept (the multipart upload was aborted); run it again"),
    "LockHeld": ("", "another workflow holds the host lock: `opsctl executions --host HOST --status RUNNING`"),
    "InvalidInput": ("", "fix the input: `opsctl schema WORKFLOW` shows every field"),
    "ApprovalRejected": ("", "an approver rejected it: nothing was changed"),
    "ApprovalTimedOut": ("", "nobody answered the approval in time: nothing was changed; start it again"),
    "RolledBack": ("", "the update was undone and the host runs the previous version; see the cause, fix the release"),
    "FleetUpdateFailed": (
        "",
        "no new host update started after the first failure; `opsctl show` of each host's update",
    ),
}


def meaning(error: str) -> str:
    """The first line of the error class's docstring, or "" for an error the product does not define."""
    from freshtrack_ops import errors

    cls = getattr(errors, error, None)
    doc = getattr(cls, "__doc__", None) if isinstance(cls, type) and issubclass(cls, Exception) else None
    return doc.strip().splitlines()[0] if doc else ""


def next_steps(error: str | None) -> list[str]:
    """Lines saying what the error means and what to do now (empty when ``error`` is None)."""
    if not error:
        return []
    lines = []
    if text := meaning(error):
        lines.append(f"{error}: {text}")
    anchor, todo = _NEXT.get(error, ("", ""))
    if todo:
        lines.append(f"next: {todo}")
    if anchor:
        lines.append(f"runbook: {RUNBOOKS}#{anchor}")
    elif error.startswith("States.") or error.startswith("Sandbox."):
        lines.append("next: a Step Functions or Lambda limit, not a host problem: the cause names the state")
    if not lines:
        lines.append(f"next: see the cause above and {RUNBOOKS}")
    return lines
