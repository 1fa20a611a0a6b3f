"""The workflows every target runs on a schedule, and what each schedule sends: plain data, no aws_cdk.

The control-plane stack makes one EventBridge Scheduler schedule per target and scheduled run from these
(``stacks/control_plane_stack.py:WorkflowSchedules``: the expression, the flexible time window, the execution input
as the schedule target's ``Input``); the local plane fires schedules with the same inputs
(``LocalPlane.fire_schedules``), so what a test fires is what a deployment's schedules send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from freshtrack_ops.config import Target

HOURLY_EXPRESSION = "cron(0 * * * ? *)"
#: the workflow whose reports the daily-check alarms watch (they exist only once it is in the catalog)
DAILY_CHECK_WORKFLOW = "daily-check"


def _no_window(target: Target) -> int | None:
    return None


@dataclass(frozen=True)
class ScheduledRun:
    """A workflow every target runs on a schedule: its expression (UTC) and execution input per target."""

    workflow: str
    construct_id: str
    #: None: this target does not run it on a schedule
    expression: Callable[[Target], str | None]
    execution_input: Callable[[Target], dict[str, str]]
    #: the schedule's flexible time window in minutes (EventBridge Scheduler starts the run at some moment within
    #: it), None: at the expression's time exactly (the window OFF)
    time_window_minutes: Callable[[Target], int | None] = _no_window


def backup_expression(target: Target) -> str:
    return HOURLY_EXPRESSION if target.backup.hourly else target.backup.schedule


def drill_expression(target: Target) -> str | None:
    """``dr.drill_schedule``; refused for a target without ``dr.launch_template``: a scheduled drill provisions its
    server (``replacement: provision``, the request's default), so it would fail every time."""
    if target.dr is None or target.dr.drill_schedule is None:
        return None
    if target.dr.launch_template is None:
        raise ValueError(
            f"targets.{target.id}.dr.drill_schedule: a scheduled drill provisions a server, and target "
            f"{target.id!r} has no dr.launch_template"
        )
    return target.dr.drill_schedule


SCHEDULED_RUNS: tuple[ScheduledRun, ...] = (
    # input: a BackupRequest
    ScheduledRun(
        "backup",
        "BackupSchedules",
        backup_expression,
        lambda t: {"host": t.id, "trigger": "schedule", "reason": "scheduled backup"},
        lambda t: t.backup.flexible_window_minutes,
    ),
    # input: a TestRestoreRequest (non-destructive: restores the newest backup into a scratch database)
    ScheduledRun(
        "test-restore",
        "TestRestoreSchedules",
        lambda t: t.restore.test_restore_schedule,
        lambda t: {"host": t.id, "backup_id": "latest"},
    ),
    # input: an UpdateRequest of kind images (the manual's monthly Docker update), only for targets with an
    # update.image_update_schedule; it rolls itself back (pinned digests) on failure. The release update and the
    # rollback workflow are never scheduled: they change the code, on a person's decision.
    ScheduledRun(
        "update",
        "ImageUpdateSchedules",
        lambda t: t.update.image_update_schedule,
        lambda t: {"host": t.id, "kind": "images", "rollback_database": "auto", "reason": "scheduled image update"},
    ),
    # input: a DisasterRecoveryRequest in drill mode (a throw-away server, no DNS or inventory change: the
    # request's defaults provision it and restore the latest verified backup), only for targets with a
    # dr.drill_schedule. A recovery (mode recover) is never scheduled: it moves the domain, on a person's decision.
    ScheduledRun("disaster-recovery", "DrillSchedules", drill_expression, lambda t: {"host": t.id, "mode": "drill"}),
    # input: a CaptureConfigRequest: the app config into its secret, so a recovery after the server is lost finds it
    ScheduledRun(
        "capture-config",
        "CaptureConfigSchedules",
        lambda t: t.dr.capture_schedule if t.dr is not None else None,
        lambda t: {"host": t.id},
    ),
    # input: an OsUpdateRequest (the manual's monthly system updates: backup, apt upgrade, reboot if required,
    # verify), only for targets with a maintenance.os_update_schedule (a maintenance window)
    ScheduledRun(
        "os-update",
        "OsUpdateSchedules",
        lambda t: t.maintenance.os_update_schedule,
        lambda t: {"host": t.id, "trigger": "schedule", "reason": "monthly maintenance window"},
    ),
    # input: a RotateSecretsRequest (the manual's quarterly rotation; the schedule is the configured consent, so it
    # carries the typed confirmation), only for targets with a maintenance.secret_rotation_schedule
    ScheduledRun(
        "rotate-secrets",
        "SecretRotationSchedules",
        lambda t: t.maintenance.secret_rotation_schedule,
        lambda t: {"host": t.id, "confirm": t.id, "trigger": "schedule", "reason": "quarterly secret rotation"},
    ),
    # input: a DailyCheckRequest (read-only on the host: the report, its metrics and the summary notification),
    # only for targets with daily_check.enabled
    ScheduledRun(
        DAILY_CHECK_WORKFLOW,
        "DailyCheckSchedules",
        lambda t: t.daily_check.schedule if t.daily_check.enabled else None,
        lambda t: {"host": t.id, "trigger": "schedule", "reason": "scheduled daily check"},
    ),
)


def scheduled_run(workflow: str) -> ScheduledRun:
    """The scheduled run of ``workflow`` (KeyError naming the scheduled workflows when it has none)."""
    for run in SCHEDULED_RUNS:
        if run.workflow == workflow:
            return run
    raise KeyError(f"{workflow!r} runs on no schedule (scheduled: {', '.join(r.workflow for r in SCHEDULED_RUNS)})")


def schedule_inputs(workflow: str, targets: Iterable[Target]) -> dict[str, dict[str, str]]:
    """Target id -> the execution input of its ``workflow`` schedule, for the targets that have one (what each
    schedule's target ``Input`` holds)."""
    run = scheduled_run(workflow)
    return {target.id: run.execution_input(target) for target in targets if run.expression(target) is not None}
