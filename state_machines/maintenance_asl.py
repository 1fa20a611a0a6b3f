"""Write the maintenance workflows' state machines (state_machines/{os_update,rotate_secrets,db_pool,scale}.asl.json)
from one skeleton (``make docs`` runs ``python -m state_machines.maintenance_asl``; tests/asl/test_maintenance_asl.py
fails when a file is not what this writes).

Every maintenance workflow has the same shape, and only its change and revert differ:

    ValidateInput -> (dry run: RecordDryRun -> notify -> Done)
    AcquireLock (wait LOCK_WAIT_S, then give way) -> the pre-maintenance backup, verified (the update's backup
    states, copied from update.asl.json) -> CHANGE -> verify-deployment.sh until it passes -> health
    -> FINISH -> ReleaseLock -> RecordSuccess -> notify -> Done

A failure before the change stops there (nothing changed); a failure in or after the change runs REVERT, verifies
again and fails as Reverted; a failing revert keeps the host lock and fails as RevertFailed; a host that does not
answer again after a reboot or an instance start keeps the lock and fails as HostLost (the alarm's metric). Every
catch records the state it came from (``$.stage``) so the notification says exactly where it stopped.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

from state_machines import ASL_DIR, LAMBDA_SERVICE_RETRY, LOCK_STORE_RETRY

MACHINES = ASL_DIR
#: Lambda's own transient errors: the one Retry entry every Lambda task carries (tests/asl checks each copy)
LAMBDA_RETRY = LAMBDA_SERVICE_RETRY
State = dict[str, Any]
States = dict[str, State]

HOST_RETRY = {
    "ErrorEquals": ["HostUnreachable", "HostConnectionLost"],
    "IntervalSeconds": 10,
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
NOTIFY_RETRY = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}
#: refusals of a change step that mean nothing was changed: the before-change failure path, never a revert
NOTHING_CHANGED = ["InvalidInput", "MaintenanceRefused", "RotationPending"]
#: the Upgrade task's limit: apt's own (maintenance.apt_timeout_s, at most 3 h) and, over SSM, the agent's reboot
#: and the script's second run (reboot_wait_s, at most 1 h), with room for the dpkg lock wait (at most 1 h)
UPGRADE_TIMEOUT_S = 5 * 3600 + 600
#: the seconds between two verify-deployment.sh attempts (freshtrack_ops.config VERIFY_INTERVAL_S)
VERIFY_INTERVAL_S = 10


class Machine:
    """The states of one workflow, built in order."""

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow
        self.states: States = {}

    def add(self, name: str, state: State) -> str:
        if name in self.states:
            raise ValueError(f"state {name} defined twice")
        self.states[name] = state
        return name

    def caught(self, name: str, target: str, result_path: str = "$.error") -> list[dict[str, Any]]:
        """A Catch that records ``name`` as the stage, then goes on to ``target``."""
        stage = f"{name}Caught"
        self.add(stage, {"Type": "Pass", "Result": name, "ResultPath": "$.stage", "Next": target})
        return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": stage}]

    def host_task(
        self,
        name: str,
        function: str,
        payload: dict[str, Any],
        *,
        result: str | None,
        next_: str,
        catch: list[dict[str, Any]],
        comment: str,
        timeout_s: int = 900,
        retry_host: bool = True,
    ) -> str:
        """A host step (waitForTaskToken: SSH/local answer at once, SSM when its command ends)."""
        return self.add(
            name,
            {
                "Type": "Task",
                "Comment": comment,
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": f"${{{function}FunctionArn}}",
                    "Payload": {**payload, "execution_id.$": "$$.Execution.Id", "task_token.$": "$$.Task.Token"},
                },
                "TimeoutSeconds": timeout_s,
                "ResultPath": result,
                "Retry": [LAMBDA_RETRY, HOST_RETRY] if retry_host else [LAMBDA_RETRY],
                "Catch": catch,
                "Next": next_,
            },
        )

    def lambda_task(
        self,
        name: str,
        function: str,
        parameters: dict[str, Any],
        *,
        result: str | None,
        next_: str,
        catch: list[dict[str, Any]],
        comment: str | None = None,
    ) -> str:
        state: State = {
            "Type": "Task",
            "Resource": f"${{{function}FunctionArn}}",
            "Parameters": parameters,
            "ResultPath": result,
            "Retry": [LAMBDA_RETRY, LOCK_STORE_RETRY] if function == "HostLock" else [LAMBDA_RETRY],
            "Catch": catch,
            "Next": next_,
        }
        if comment:
            state = {"Type": "Task", "Comment": comment, **{k: v for k, v in state.items() if k != "Type"}}
        return self.add(name, state)

    def notify(self, name: str, next_: str) -> str:
        return self.add(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": "${NotificationTopicArn}",
                    "Subject.$": "$.record.subject",
                    "Message.$": "$.record.message",
                },
                "ResultPath": None,
                "Retry": [NOTIFY_RETRY],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": next_}],
                "Next": next_,
            },
        )

    def record(
        self, name: str, outcome: str, next_: str, *, error: str | None = "$.error", revert_error: bool = False
    ) -> str:
        """The record task (audit, metrics, the notification's words), then its notification."""
        parameters: dict[str, Any] = {
            "plan.$": "$.plan",
            "outcome": outcome,
            "execution_id.$": "$$.Execution.Id",
            "stage.$": "$.stage",
            "reports.$": "$.reports",
        }
        if error:
            parameters["error.$"] = error
        if revert_error:
            parameters["revert_error.$"] = "$.revert_error"
        notify = f"Notify{name.removeprefix('Record')}"
        self.lambda_task(
            name,
            "MaintenanceRecord",
            parameters,
            result="$.record",
            next_=notify,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.record_error", "Next": "RecordFailedUnrecorded"}],
        )
        self.notify(notify, next_)
        return name

    def fail(self, name: str, comment: str) -> str:
        return self.add(
            name,
            {
                "Type": "Fail",
                "Comment": comment,
                "ErrorPath": "$.record.error_name",
                "CausePath": "$.record.error_cause",
            },
        )

    def lock(self, name: str, action: str, next_: str, catch: list[dict[str, Any]]) -> str:
        parameters: dict[str, Any] = {"action": action, "host.$": "$.plan.host", "owner.$": "$.plan.lock_owner"}
        if action == "acquire":
            parameters |= {"lease_seconds.$": "$.plan.lock_lease_seconds", "purpose": self.workflow}
        return self.lambda_task(
            name, "HostLock", parameters, result="$.lock" if action == "acquire" else None, next_=next_, catch=catch
        )

    def verify(self, prefix: str, next_: str, on_error: str) -> str:
        """verify-deployment.sh until it passes (plan.verify_attempts, every VERIFY_INTERVAL_S), then the health URL
        and every compose service (HostHealth); the first state's name."""
        start, check, healthy, wait, health = (f"{prefix}{s}" for s in ("Start", "", "Healthy", "Wait", "Health"))
        self.add(start, {"Type": "Pass", "Result": {"attempt": 1}, "ResultPath": "$.reports.verify", "Next": check})
        self.host_task(
            check,
            "AppVerify",
            {"host.$": "$.plan.host", "attempt.$": "$.reports.verify.attempt", "attempts.$": "$.plan.verify_attempts"},
            result="$.reports.verify",
            next_=healthy,
            catch=self.caught(check, on_error),
            comment="scripts/verify-deployment.sh DOMAIN; asked again every 10 s over the target's verify window.",
        )
        self.add(
            healthy,
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.reports.verify.healthy", "BooleanEquals": True, "Next": health}],
                "Default": wait,
            },
        )
        self.add(wait, {"Type": "Wait", "Seconds": VERIFY_INTERVAL_S, "Next": check})
        self.host_task(
            health,
            "HostHealth",
            {"host.$": "$.plan.host"},
            result="$.reports.health",
            next_=next_,
            catch=self.caught(health, on_error),
            comment="The health URL answers 200 and every compose service runs.",
        )
        return start


def _backup_states(machine: Machine, next_: str) -> str:
    """The update's pre-change backup states (preflight, dump or host job, manifest, verify or host job), copied
    from update.asl.json with their exits pointed here; the manifest's output lands in ``$.reports.backup``."""
    update = json.loads((MACHINES / "update.asl.json").read_text(encoding="utf-8"))["States"]
    names = [n for n in update if n.startswith("Backup")]
    for name in names:
        state = copy.deepcopy(update[name])
        text = json.dumps(state)
        text = re.sub(r'"\$\.backup(?=[."])', '"$.reports.backup', text)
        state = json.loads(text)
        if name == "BackupVerifyIsJob":
            state["Default"] = next_
        if name.endswith("PollJob"):  # a polled job fails where its transfer would
            state["Catch"] = copy.deepcopy(machine.states[name.removesuffix("PollJob")]["Catch"])
        elif "Catch" in state:
            dump = name in ("BackupDump", "BackupManifest")
            state["Catch"] = machine.caught(name, "CleanupBackup" if dump else "StopBeforeChange")
        if name == "BackupVerify":
            state["Comment"] = "The pre-maintenance backup's checksum and archive list, before anything changes."
        machine.add(name, state)
    return "BackupPreflight"


def _prologue(machine: Machine, first_backup_state: str) -> None:
    m = machine
    m.lambda_task(
        "ValidateInput",
        "MaintenanceValidate",
        {
            "workflow": m.workflow,
            "request.$": "$",
            "execution_id.$": "$$.Execution.Id",
            "started_at.$": "$$.Execution.StartTime",
        },
        result="$.plan",
        next_="InitState",
        catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ExplainRejection"}],
        comment="The request against the target (ranges, allowed types, the typed confirmation); the commands it "
        "will run. A refusal runs nothing and takes no lock.",
    )
    m.add(
        "InitState",
        {
            "Type": "Pass",
            "Comment": "Only the plan goes on; every report exists (null) on every path.",
            "Parameters": {
                "plan.$": "$.plan",
                "stage": "",
                "reports": {
                    "backup": None,
                    "before": None,
                    "change": None,
                    "reboot": None,
                    "probe": None,
                    "started": None,
                    "size": None,
                    "verify": None,
                    "health": None,
                    "finish": None,
                    "capture": None,
                    "revert": None,
                },
            },
            "ResultPath": "$",
            "Next": "IsDryRun",
        },
    )
    m.add(
        "IsDryRun",
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.plan.dry_run", "BooleanEquals": True, "Next": "RecordDryRun"}],
            "Default": "AcquireLock",
        },
    )
    m.record("RecordDryRun", "dry-run", "Done", error=None)
    m.lock(
        "AcquireLock",
        "acquire",
        first_backup_state,
        [
            {"ErrorEquals": ["LockHeld"], "ResultPath": "$.lock_error", "Next": "LockTriesLeft"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordRejected"},
        ],
    )
    m.add(
        "LockTriesLeft",
        {
            "Type": "Choice",
            "Comment": "Wait for the lock (maintenance.plan.LOCK_WAIT_S), then give way.",
            "Choices": [{"Variable": "$.plan.lock_tries", "NumericGreaterThan": 0, "Next": "WaitForLock"}],
            "Default": "RecordGaveWay",
        },
    )
    m.add("WaitForLock", {"Type": "Wait", "SecondsPath": "$.plan.lock_poll_s", "Next": "CountLockTry"})
    m.add(
        "CountLockTry",
        {
            "Type": "Pass",
            "Parameters": {"tries.$": "States.MathAdd($.plan.lock_tries, -1)"},
            "ResultPath": "$.lock_count",
            "Next": "StoreLockTry",
        },
    )
    m.add(
        "StoreLockTry",
        {"Type": "Pass", "InputPath": "$.lock_count.tries", "ResultPath": "$.plan.lock_tries", "Next": "AcquireLock"},
    )
    m.record("RecordGaveWay", "gave-way", "GaveWay", error="$.lock_error")
    m.fail("GaveWay", "LockHeld, with who holds the lock: nothing was run.")
    m.record("RecordRejected", "failed", "Failed")


def _epilogue(machine: Machine, *, revert: str | None) -> None:
    """Success, the failure paths and the revert's end."""
    m = machine
    m.lock(
        "ReleaseLock",
        "release",
        "RecordSuccess",
        [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lock_release_error", "Next": "RecordSuccess"}],
    )
    m.record("RecordSuccess", "succeeded", "Done", error=None)
    m.add("Done", {"Type": "Succeed"})
    # before the change: nothing changed
    m.lambda_task(
        "CleanupBackup",
        "StopHostWork",
        {"execution_id.$": "$$.Execution.Id", "scope": "running"},
        result="$.stopped",
        next_="CleanupBackupObjects",
        catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stop_error", "Next": "CleanupBackupObjects"}],
    )
    m.lambda_task(
        "CleanupBackupObjects",
        "BackupCleanup",
        {"plan.$": "$.plan.backup"},
        result="$.cleanup",
        next_="ReleaseLockAfterFailure",
        catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_error", "Next": "ReleaseLockAfterFailure"}],
    )
    m.lambda_task(
        "StopBeforeChange",
        "StopHostWork",
        {"execution_id.$": "$$.Execution.Id", "scope": "running"},
        result="$.stopped",
        next_="ReleaseLockAfterFailure",
        catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stop_error", "Next": "ReleaseLockAfterFailure"}],
        comment="Cancel what this execution still runs on the host (SSM commands, host jobs).",
    )
    m.lock(
        "ReleaseLockAfterFailure",
        "release",
        "RecordFailure",
        [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lock_release_error", "Next": "RecordFailure"}],
    )
    m.record("RecordFailure", "failed", "Failed")
    m.fail("Failed", "The error that stopped it before anything changed (the record task names it).")
    if revert is not None:
        m.lambda_task(
            "StopBeforeRevert",
            "StopHostWork",
            {"execution_id.$": "$$.Execution.Id", "scope": "running"},
            result="$.stopped",
            next_=revert,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stop_error", "Next": revert}],
            comment="Cancel what this execution still runs on the host before undoing the change.",
        )
        m.lock(
            "ReleaseLockAfterRevert",
            "release",
            "RecordReverted",
            [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lock_release_error", "Next": "RecordReverted"}],
        )
        m.record("RecordReverted", "reverted", "Reverted")
        m.fail("Reverted", "The change failed and was undone; the error is the change's.")
        m.record("RecordRevertFailed", "revert-failed", "RevertFailed", revert_error=True)
        m.fail("RevertFailed", "The change failed and undoing it failed too: the host lock is kept.")
    m.add(
        "RecordFailedUnrecorded",
        {
            "Type": "Pass",
            "Comment": "The audit could not be written: say so, still notify.",
            "Parameters": {
                "subject": f"FreshTrack {m.workflow}: audit not written",
                "message.$": f"States.Format('{m.workflow} on {{}} ended but its audit entry could not be "
                "written: {}. Execution {}.', $.plan.host, $.record_error.Cause, $$.Execution.Id)",
            },
            "ResultPath": "$.record",
            "Next": "NotifyUnrecorded",
        },
    )
    m.notify("NotifyUnrecorded", "Unrecorded")
    m.add(
        "Unrecorded",
        {"Type": "Fail", "Error": "AuditNotWritten", "Cause": f"The {m.workflow} audit entry could not be written."},
    )
    m.lambda_task(
        "ExplainRejection",
        "ExplainError",
        {"workflow": m.workflow, "outcome": "rejected", "error.$": "$.error"},
        result="$.failure",
        next_="NotifyRejection",
        catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.explain_error", "Next": "RejectedUnexplained"}],
    )
    m.add(
        "NotifyRejection",
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${NotificationTopicArn}",
                "Subject": f"FreshTrack {m.workflow} request rejected",
                "Message.$": f"States.Format('A {m.workflow} request was rejected ({{}}): {{}} Nothing was run. "
                "Execution {}.', $.failure.error_name, $.failure.error_cause, $$.Execution.Id)",
            },
            "ResultPath": None,
            "Retry": [NOTIFY_RETRY],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": "Rejected"}],
            "Next": "Rejected",
        },
    )
    m.add("Rejected", {"Type": "Fail", "ErrorPath": "$.failure.error_name", "CausePath": "$.failure.error_cause"})
    m.add(
        "RejectedUnexplained",
        {
            "Type": "Fail",
            "Error": "MaintenanceRejected",
            "Cause": "The request was refused and the refusal could not be explained.",
        },
    )


def _change_catch(machine: Machine, name: str) -> list[dict[str, Any]]:
    """A change step's catch: refusals that changed nothing stop before the change, the rest revert."""
    before = machine.caught(f"{name}Refused", "StopBeforeChange")
    before[0]["ErrorEquals"] = NOTHING_CHANGED
    return before + machine.caught(name, "StopBeforeRevert")


def _revert_catch(machine: Machine, name: str) -> list[dict[str, Any]]:
    return machine.caught(name, "RecordRevertFailed", result_path="$.revert_error")


def db_pool() -> Machine:
    m = Machine("db-pool")
    _prologue(m, "ReadPool")
    m.host_task(
        "ReadPool",
        "MaintenanceDbPool",
        {"host.$": "$.plan.host", "action": "read"},
        result="$.reports.before",
        next_=_backup_states(m, "SetPool"),
        catch=m.caught("ReadPool", "StopBeforeChange"),
        comment="DB_POOL_SIZE as it is: the value a revert puts back.",
    )
    m.host_task(
        "SetPool",
        "MaintenanceDbPool",
        {"host.$": "$.plan.host", "action": "set", "size.$": "$.plan.pool_size"},
        result="$.reports.change",
        next_="VerifyStart",
        catch=_change_catch(m, "SetPool"),
        comment="DB_POOL_SIZE in .env.production (atomically), the pool's services recreated.",
    )
    m.verify("Verify", "ReleaseLock", "StopBeforeRevert")
    m.host_task(
        "RevertPool",
        "MaintenanceDbPool",
        {"host.$": "$.plan.host", "action": "restore", "size.$": "$.reports.before.previous"},
        result="$.reports.revert",
        next_="RevertVerifyStart",
        catch=_revert_catch(m, "RevertPool"),
        comment="The DB_POOL_SIZE that was there before (none: the line removed), services recreated.",
    )
    m.verify("RevertVerify", "ReleaseLockAfterRevert", "RecordRevertFailed")
    _fix_revert_verify_catches(m, "RevertVerify")
    _epilogue(m, revert="RevertPool")
    return m


def rotate_secrets() -> Machine:
    m = Machine("rotate-secrets")
    _prologue(m, "BackupPreflight")
    _backup_states(m, "Rotate")
    m.host_task(
        "Rotate",
        "MaintenanceRotateSecrets",
        {"host.$": "$.plan.host", "rotation": "rotate"},
        result="$.reports.change",
        next_="VerifyStart",
        catch=_change_catch(m, "Rotate"),
        timeout_s=900,
        comment="New database password and JWT secret generated on the host, ALTER ROLE on psql's stdin, files "
        "swapped atomically, docker compose down and up -d; the old values kept on the host.",
    )
    m.verify("Verify", "Commit", "StopBeforeRevert")
    m.host_task(
        "Commit",
        "MaintenanceRotateSecrets",
        {"host.$": "$.plan.host", "rotation": "commit"},
        result="$.reports.finish",
        next_="CaptureConfigWanted",
        catch=m.caught("Commit", "CaptureConfigWanted", result_path="$.finish_error"),
        comment="Verified: the kept old values are deleted from the host.",
    )
    m.add(
        "CaptureConfigWanted",
        {
            "Type": "Choice",
            "Comment": "A target with disaster recovery: its DR copy of "
            ".env.production and secrets/ is refreshed now, or a recovery would bootstrap with the old secrets.",
            "Choices": [{"Variable": "$.plan.capture_config", "BooleanEquals": True, "Next": "CaptureConfig"}],
            "Default": "ReleaseLock",
        },
    )
    m.host_task(
        "CaptureConfig",
        "DrCaptureConfig",
        {"host.$": "$.plan.host"},
        result="$.reports.capture",
        next_="ReleaseLock",
        catch=m.caught("CaptureConfig", "ReleaseLock", result_path="$.capture_error"),
        comment="The app-config secret (the DR copy) from the host: names and versions come back, no values.",
    )
    m.host_task(
        "RevertRotation",
        "MaintenanceRotateSecrets",
        {"host.$": "$.plan.host", "rotation": "revert"},
        result="$.reports.revert",
        next_="RevertVerifyStart",
        catch=_revert_catch(m, "RevertRotation"),
        comment="The kept old files back, ALTER ROLE with the old password, docker compose down and up -d.",
    )
    m.verify("RevertVerify", "ReleaseLockAfterRevert", "RecordRevertFailed")
    _fix_revert_verify_catches(m, "RevertVerify")
    _epilogue(m, revert="RevertRotation")
    return m


def _countdown(machine: Machine, name: str, next_: str) -> str:
    """A Pass that starts a wait loop's countdown (plan.probe_tries, every plan.probe_poll_s)."""
    return machine.add(
        name,
        {"Type": "Pass", "Parameters": {"left.$": "$.plan.probe_tries"}, "ResultPath": "$.countdown", "Next": next_},
    )


def _count(machine: Machine, name: str, wait: str, exhausted: str) -> str:
    """One try fewer: wait again while tries are left, else ``exhausted``."""
    left, count = f"{name}Left", f"{name}Count"
    machine.add(
        left,
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.countdown.left", "NumericGreaterThan": 0, "Next": count}],
            "Default": exhausted,
        },
    )
    machine.add(
        count,
        {
            "Type": "Pass",
            "Parameters": {"left.$": "States.MathAdd($.countdown.left, -1)"},
            "ResultPath": "$.countdown",
            "Next": wait,
        },
    )
    return left


def _timed_out(machine: Machine, name: str, error: str, cause: str, next_: str) -> str:
    """A wait loop ran out of tries: its error (for the record) and the stage, then ``next_``."""
    machine.add(
        name,
        {
            "Type": "Pass",
            "Parameters": {"Error": error, "Cause.$": cause},
            "ResultPath": "$.error",
            "Next": f"{name}Stage",
        },
    )
    machine.add(f"{name}Stage", {"Type": "Pass", "Result": name, "ResultPath": "$.stage", "Next": next_})
    return name


def _instance_action(
    machine: Machine, name: str, action: str, next_: str, catch: list[dict[str, Any]], *, instance_type: str = ""
) -> str:
    parameters: dict[str, Any] = {"action": action, "host.$": "$.plan.host", "instance_id.$": "$.plan.instance_id"}
    if instance_type:
        parameters["instance_type.$"] = instance_type
    return machine.lambda_task(name, "ScaleInstance", parameters, result="$.reports.instance", next_=next_, catch=catch)


def _instance_wait(machine: Machine, prefix: str, want: str, next_: str, on_error: str) -> str:
    """Describe the instance every probe_poll_s until EC2 says ``want`` (plan.probe_tries times at most)."""
    begin, wait, describe, reached = (f"{prefix}{s}" for s in ("Begin", "Wait", "Describe", "Reached"))
    _countdown(machine, begin, wait)
    machine.add(wait, {"Type": "Wait", "SecondsPath": "$.plan.probe_poll_s", "Next": describe})
    _instance_action(machine, describe, "describe", reached, machine.caught(describe, on_error))
    left = _count(machine, prefix, wait, f"{prefix}TimedOut")
    machine.add(
        reached,
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.reports.instance.state", "StringEquals": want, "Next": next_}],
            "Default": left,
        },
    )
    _timed_out(
        machine,
        f"{prefix}TimedOut",
        "InstanceStateTimeout",
        f"States.Format('instance {{}} was not {want} after the reboot wait (maintenance.reboot_wait_s)', "
        "$.plan.instance_id)",
        on_error,
    )
    return begin


def _probe_wait(machine: Machine, prefix: str, next_: str, on_lost: str, *, after_reboot: bool) -> str:
    """Ask the host (host-probe) every probe_poll_s until it answers (after a reboot: with a new boot id), at most
    plan.probe_tries times; a host that never does goes to ``on_lost`` with HostNotBack."""
    begin, wait, probe, back = (f"{prefix}{s}" for s in ("Begin", "Wait", "", "Back"))
    _countdown(machine, begin, wait)
    machine.add(wait, {"Type": "Wait", "SecondsPath": "$.plan.probe_poll_s", "Next": probe})
    payload: dict[str, Any] = {"host.$": "$.plan.host"}
    if after_reboot:
        payload["boot_id_before.$"] = "$.reports.reboot.boot_id"
    left = _count(machine, prefix, wait, f"{prefix}Lost")
    down = [
        "HostUnreachable",
        "HostConnectionLost",
        "HostAuthFailed",
        "HostCommandTimeout",
        "States.Timeout",
    ]
    machine.host_task(
        probe,
        "MaintenanceProbe",
        payload,
        result="$.reports.probe",
        next_=back,
        timeout_s=300,
        retry_host=False,
        catch=[{"ErrorEquals": down, "ResultPath": "$.probe_error", "Next": left}, *machine.caught(probe, on_lost)],
        comment="Is the host back: boot id, uptime, CPUs, memory and disk (an unreachable host is asked again).",
    )
    machine.add(
        back,
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.reports.probe.rebooted", "BooleanEquals": False, "Next": left}],
            "Default": next_,
        }
        if after_reboot
        else {"Type": "Pass", "Next": next_},
    )
    _timed_out(
        machine,
        f"{prefix}Lost",
        "HostNotBack",
        "States.Format('host {} did not answer again within maintenance.reboot_wait_s', $.plan.host)",
        on_lost,
    )
    return begin


def _host_lost(machine: Machine) -> None:
    machine.record("RecordHostLost", "host-lost", "HostLost")
    machine.fail("HostLost", "The host did not answer again after it went down: the host lock is kept (alarm).")


def scale() -> Machine:
    m = Machine("scale")
    _prologue(m, "BackupPreflight")
    _backup_states(m, "StopInstance")
    # from the stop on, the service is down: every failure restarts the instance with its old type
    _instance_action(m, "StopInstance", "stop", "StoppedBegin", m.caught("StopInstance", "StopBeforeRevert"))
    _instance_wait(m, "Stopped", "stopped", "SetType", "StopBeforeRevert")
    _instance_action(
        m,
        "SetType",
        "set-type",
        "StartInstance",
        m.caught("SetType", "StopBeforeRevert"),
        instance_type="$.plan.instance_type",
    )
    _instance_action(m, "StartInstance", "start", "RunningBegin", m.caught("StartInstance", "StopBeforeRevert"))
    _instance_wait(m, "Running", "running", "ProbeBegin", "StopBeforeRevert")
    _probe_wait(m, "Probe", "VerifyStart", "StopBeforeRevert", after_reboot=False)
    m.verify("Verify", "ReleaseLock", "StopBeforeRevert")
    revert_catch = "RecordRevertFailed"
    _instance_action(m, "RevertStop", "stop", "RevertStoppedBegin", _revert_catch(m, "RevertStop"))
    _instance_wait(m, "RevertStopped", "stopped", "RevertSetType", revert_catch)
    _instance_action(
        m,
        "RevertSetType",
        "set-type",
        "RevertStart",
        _revert_catch(m, "RevertSetType"),
        instance_type="$.plan.previous_instance_type",
    )
    _instance_action(m, "RevertStart", "start", "RevertRunningBegin", _revert_catch(m, "RevertStart"))
    _instance_wait(m, "RevertRunning", "running", "RevertProbeBegin", revert_catch)
    _probe_wait(m, "RevertProbe", "RevertVerifyStart", "RecordHostLost", after_reboot=False)
    m.verify("RevertVerify", "ReleaseLockAfterRevert", revert_catch)
    _fix_revert_verify_catches(m, "RevertVerify")
    for name in ("RevertStoppedDescribe", "RevertRunningDescribe"):
        for catch in m.states[name]["Catch"]:
            catch["ResultPath"] = "$.revert_error"
    for name in ("RevertStoppedTimedOut", "RevertRunningTimedOut"):
        m.states[name]["ResultPath"] = "$.revert_error"
    _host_lost(m)
    _epilogue(m, revert="RevertStop")
    return m


def os_update() -> Machine:
    m = Machine("os-update")
    _prologue(m, "BackupPreflight")
    _backup_states(m, "Upgrade")
    refused = m.caught("UpgradeRefused", "StopBeforeChange")
    refused[0]["ErrorEquals"] = [*NOTHING_CHANGED, "AptLockTimeout"]
    # over SSM the command outlives the reboot: one that never ends is a host that never came back
    lost = m.caught("UpgradeLost", "RecordHostLost")
    lost[0]["ErrorEquals"] = ["HostCommandTimeout", "States.Timeout"]
    m.host_task(
        "Upgrade",
        "MaintenanceOsUpgrade",
        {"host.$": "$.plan.host", "run_id.$": "$.plan.run_id", "reboot.$": "$.plan.reboot"},
        result="$.reports.change",
        next_="RebootNeeded",
        timeout_s=UPGRADE_TIMEOUT_S,
        catch=[*refused, *lost, *m.caught("Upgrade", "StopBeforeRevert")],
        comment="apt-get update and a non-interactive upgrade (the dpkg lock waited for, a time limit); over SSM a "
        "required reboot through the SSM Agent (exit 194), the command ending after the host is back.",
    )
    m.add(
        "RebootNeeded",
        {
            "Type": "Choice",
            "Comment": "SSH: the reboot is the control plane's (reboot, then wait).",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.plan.reboot", "StringEquals": "if-required"},
                        {"Variable": "$.reports.change.reboot_required", "BooleanEquals": True},
                        {"Variable": "$.reports.change.rebooted", "BooleanEquals": False},
                    ],
                    "Next": "Reboot",
                }
            ],
            "Default": "VerifyStart",
        },
    )
    m.host_task(
        "Reboot",
        "MaintenanceOsReboot",
        {"host.$": "$.plan.host"},
        result="$.reports.reboot",
        next_="RebootedBegin",
        catch=m.caught("Reboot", "StopBeforeRevert"),
        retry_host=False,
        comment="/var/run/reboot-required exists: reboot (scheduled a few seconds out, so the session ends "
        "cleanly), remembering the boot id.",
    )
    _probe_wait(m, "Rebooted", "VerifyStart", "RecordHostLost", after_reboot=True)
    m.verify("Verify", "ReleaseLock", "StopBeforeRevert")
    m.host_task(
        "RestartServices",
        "ServiceAct",
        {"host.$": "$.plan.host", "action": "start"},
        result="$.reports.revert",
        next_="RevertVerifyStart",
        catch=_revert_catch(m, "RestartServices"),
        comment="Packages cannot be downgraded safely: the services are started again (docker compose up -d) "
        "and verified; the upgraded packages stay.",
    )
    m.verify("RevertVerify", "ReleaseLockAfterRevert", "RecordRevertFailed")
    _fix_revert_verify_catches(m, "RevertVerify")
    _host_lost(m)
    _epilogue(m, revert="RestartServices")
    return m


def _fix_revert_verify_catches(machine: Machine, prefix: str) -> None:
    """A revert's verification failing is the revert failing: its error goes to ``$.revert_error``."""
    for name in (prefix, f"{prefix}Health"):
        for catch in machine.states[name]["Catch"]:
            catch["ResultPath"] = "$.revert_error"


BUILDERS = {"db-pool": db_pool, "rotate-secrets": rotate_secrets, "scale": scale, "os-update": os_update}
COMMENTS = {
    "db-pool": "FreshTrack Ops db-pool (the manual's Database Scaling): lock, a verified pre-maintenance backup, "
    "DB_POOL_SIZE set in .env.production and the backend recreated, verify-deployment.sh + health; a failure puts "
    "the old value back and verifies again. Generated by state_machines/maintenance_asl.py.",
    "rotate-secrets": "FreshTrack Ops rotate-secrets (the manual's quarterly Secret Rotation): lock, a verified "
    "pre-maintenance backup, a new database password and JWT secret generated on the host (ALTER ROLE on stdin, files "
    "swapped atomically, compose down/up), verify-deployment.sh + health, the old values deleted and the DR copy "
    "refreshed; a failure puts the old values back and verifies again. Generated by state_machines/maintenance_asl.py.",
}
COMMENTS["scale"] = (
    "FreshTrack Ops scale (the manual's Vertical Scaling of an EC2 target): lock, a verified pre-maintenance backup, "
    "stop, the new instance type, start, the host answers, verify-deployment.sh + health; if EC2 cannot start the "
    "new type or anything after the stop fails, the old type back, started and verified. Generated by "
    "state_machines/maintenance_asl.py."
)
COMMENTS["os-update"] = (
    "FreshTrack Ops os-update (the manual's monthly System Updates): lock, a verified pre-maintenance backup, apt-get "
    "update and upgrade, a reboot only if /var/run/reboot-required (SSM: the agent's exit 194; SSH: reboot and wait "
    "for a new boot id), verify-deployment.sh + health; a host that does not come back keeps the lock and alarms "
    "(MaintenanceHostNotBack); a failed verification starts the services again. Generated by "
    "state_machines/maintenance_asl.py."
)
FILES = {
    "db-pool": "db_pool.asl.json",
    "rotate-secrets": "rotate_secrets.asl.json",
    "scale": "scale.asl.json",
    "os-update": "os_update.asl.json",
}
#: an execution's own limit: the backup (a host job may run hours), the change and the verification
TIMEOUT_S = 8 * 24 * 3600


def definition(workflow: str) -> dict[str, Any]:
    machine = BUILDERS[workflow]()
    return {
        "Comment": COMMENTS[workflow],
        "StartAt": "ValidateInput",
        "TimeoutSeconds": TIMEOUT_S,
        "States": machine.states,
    }


def render(workflow: str) -> str:
    return json.dumps(definition(workflow), indent=2) + "\n"


def main() -> int:
    for workflow, name in FILES.items():
        (MACHINES / name).write_text(render(workflow), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
