"""The catalog of Lambda tasks and workflows: one source for CDK, the local plane and the ASL checks."""

from __future__ import annotations

from dataclasses import dataclass

from freshtrack_ops.chat.settings import FUNCTION_TIMEOUT_S as CHAT_TIMEOUT_S

#: what every task that runs a host script needs, on any transport: the targets, the SSH key, sending SSM
#: commands, completing its own task token, and the ops table (where SSM commands wait for their completion)
HOST_ACCESS = frozenset({"targets", "ssh-keys", "ssm-commands", "task-callback", "table"})


@dataclass(frozen=True)
class LambdaTask:
    """One Lambda function; ``${<name>FunctionArn}`` is its placeholder in the ASL files."""

    name: str
    handler: str
    description: str
    timeout_s: int = 60
    memory_mb: int = 256
    #: capabilities the function's role is granted (see stacks/function_factory.py)
    grants: frozenset[str] = frozenset()
    #: EventBridge Scheduler expression (UTC) for tasks invoked directly on a schedule, not by a workflow
    schedule: str | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    asl_file: str
    description: str


TASKS: dict[str, LambdaTask] = {
    task.name: task
    for task in (
        LambdaTask(
            "BackupValidate",
            "freshtrack_ops.handlers.backup.validate",
            "Validate a backup request and plan ids, keys and the measured dump rate",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "HostLock",
            "freshtrack_ops.handlers.lock.handler",
            "Acquire or release the per-host lock",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "LockJanitor",
            "freshtrack_ops.handlers.lock.janitor",
            "After an execution was aborted or timed out: cancel its SSM commands, stop its host jobs, drop its "
            "scratch databases, terminate its drill server, release its host lock, notify",
            timeout_s=300,
            grants=HOST_ACCESS | {"bucket-write", "notify", "drill-cleanup"},
        ),
        LambdaTask(
            "StopHostWork",
            "freshtrack_ops.handlers.lock.stop_work",
            "A failure path: cancel the execution's SSM commands and stop its host jobs before cleaning up",
            timeout_s=300,
            grants=HOST_ACCESS | {"bucket-write"},
        ),
        LambdaTask(
            "HostJobPoll",
            "freshtrack_ops.handlers.host.job_poll",
            "Poll a host job (a transfer too long for one invocation); hand a dump fresh part URLs",
            timeout_s=300,
            # a deployment run as a host job ends here: its step writes the deploy log (deploy-logs)
            grants=HOST_ACCESS | {"bucket-write", "bucket-read", "deploy-logs"},
        ),
        LambdaTask(
            "BackupPreflight",
            "freshtrack_ops.handlers.backup.preflight",
            "Check database, disk and versions on the host",
            timeout_s=180,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "BackupDump",
            "freshtrack_ops.handlers.backup.dump",
            "Stream pg_dump from the host into S3",
            timeout_s=900,
            memory_mb=512,
            grants=HOST_ACCESS | {"bucket-write"},
        ),
        LambdaTask(
            "BackupManifest",
            "freshtrack_ops.handlers.backup.manifest",
            "Write the backup manifest and catalog entry",
            grants=frozenset({"targets", "bucket-write", "table"}),
        ),
        LambdaTask(
            "BackupCleanup",
            "freshtrack_ops.handlers.backup.cleanup",
            "Abort uploads and remove manifest-less dumps after a failure",
            grants=frozenset({"bucket-write"}),
        ),
        LambdaTask(
            "ExplainError",
            "freshtrack_ops.handlers.outcome.explain_error",
            "Name a failure path's caught error for its notification and Fail state; count the outcome",
        ),
        LambdaTask(
            "BackupChainVerify",
            "freshtrack_ops.handlers.backup.chain",
            "Start the test restore of a finished backup when the target asks for it",
            grants=frozenset({"targets", "start-test-restore"}),
        ),
        LambdaTask(
            "TestRestoreValidate",
            "freshtrack_ops.handlers.restore.validate_test_restore",
            "Validate a test-restore request and resolve the backup",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "RestoreValidate",
            "freshtrack_ops.handlers.restore.validate_restore",
            "Validate a restore request (confirmation) and plan the safety backup",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "RestoreSwap",
            "freshtrack_ops.handlers.restore_swap.handler",
            "Restore by swap or the old path (room on the data directory); the aside databases' catalog: record one "
            "before its swap, list the due ones, forget a dropped one or mark a failed drop, word the report",
            grants=frozenset({"targets", "table", "bucket-read"}),
        ),
        LambdaTask(
            "RestoreApproval",
            "freshtrack_ops.handlers.restore.approval",
            "Keep the task token and ask for approval of a restore",
            grants=frozenset({"table", "notify"}),
        ),
        LambdaTask(
            "BackupVerify",
            "freshtrack_ops.handlers.restore.verify",
            "Verify a backup: sha256 and pg_restore --list, one streamed pass",
            timeout_s=900,
            memory_mb=512,
            grants=HOST_ACCESS | {"bucket-read"},
        ),
        LambdaTask(
            "HostDatabase",
            "freshtrack_ops.handlers.restore.database",
            "Create or drop a scratch or incoming database, recreate the live one, swap an incoming one in or back, "
            "drop an aside",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "RestoreLoad",
            "freshtrack_ops.handlers.restore.load",
            "Stream a backup from S3 into pg_restore on the host",
            timeout_s=900,
            memory_mb=512,
            grants=HOST_ACCESS | {"bucket-read"},
        ),
        LambdaTask(
            "RestoreCounts",
            "freshtrack_ops.handlers.restore.counts",
            "Compare a database's row counts with a backup's manifest",
            timeout_s=600,
            grants=HOST_ACCESS | {"bucket-read"},
        ),
        LambdaTask(
            "HostServices",
            "freshtrack_ops.handlers.restore.services",
            "Stop, start or list compose services",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "HostHealth",
            "freshtrack_ops.handlers.restore.health",
            "Health URL and compose ps check",
            timeout_s=60,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "HostCommandDone",
            "freshtrack_ops.handlers.host.command_done",
            "Complete the workflow task waiting for an SSM command (EventBridge: command invocation status change)",
            timeout_s=300,
            memory_mb=512,
            # reads the result (GetCommandInvocation + ssm-output/), lets the step finish or abandon it (the SSM
            # dump completes or aborts its upload: bucket-write; lists and deletes its part-URL lists: ListBucket
            # from bucket-write, DeleteObject from part-url-discard), resolves undo-log entries (table) and
            # completes the waiting task; it sends and cancels no command. An SSM deployment's step writes its
            # deploy log here (deploy-logs). The DR config steps finish here over SSM: dr-capture-config reads its
            # transfer object into the app-config secret (PutSecretValue), both delete their transfer objects,
            # every version (app-config-write). A service logs action saves its redacted lines here over SSM
            # (reports)
            grants=frozenset(
                {
                    "targets",
                    "table",
                    "bucket-write",
                    "ssm-results",
                    "task-callback",
                    "part-url-discard",
                    "deploy-logs",
                    "app-config-write",
                    "reports",
                }
            ),
        ),
        LambdaTask(
            "RecordVerification",
            "freshtrack_ops.handlers.restore.record",
            "Record a test restore's verdict in the manifest and catalog",
            grants=frozenset({"bucket-write", "table"}),
        ),
        LambdaTask(
            "UpdateValidate",
            "freshtrack_ops.handlers.update.validate",
            "Validate an update request; plan its ids, pre-update backup and verification window",
            grants=frozenset({"targets"}),
        ),
        LambdaTask(
            "UpdatePreflight",
            "freshtrack_ops.handlers.update.preflight",
            "Clean app tree, git fetch --tags, resolve the target version; refuse a downgrade unless allowed",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "SchemaFingerprint",
            "freshtrack_ops.handlers.update.schema",
            "Applied migrations and a hash of the database schema",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "AppCheckout",
            "freshtrack_ops.handlers.update.checkout",
            "Check a commit of the app repository out",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "AppDeploy",
            "freshtrack_ops.handlers.update.deploy",
            "Run scripts/deploy-automated.sh (inline or as a host job); keep its output in S3",
            timeout_s=900,
            grants=HOST_ACCESS | {"deploy-logs"},
        ),
        LambdaTask(
            "AppVerify",
            "freshtrack_ops.handlers.update.verify",
            "Run scripts/verify-deployment.sh DOMAIN",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "AppDown",
            "freshtrack_ops.handlers.update.down",
            "docker compose down --timeout 30 (the rollback's first step)",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "AppImages",
            "freshtrack_ops.handlers.update.images",
            "Before an image update: the image and registry digests every compose container runs",
            timeout_s=360,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "AppImagesPin",
            "freshtrack_ops.handlers.update.pin_images",
            "An image update's rollback: pin the recorded digests in the compose override file",
            timeout_s=360,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "RollbackValidate",
            "freshtrack_ops.handlers.rollback.validate",
            "Validate a rollback request; choose from the deployment history what it undoes and the database backup",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "UpdateRecord",
            "freshtrack_ops.handlers.update.record",
            "Record an update's outcome in the deployment history",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "FleetValidate",
            "freshtrack_ops.handlers.fleet.validate",
            "Validate a fleet update request: the targets in order, the canary, each nested update's input and name",
            grants=frozenset({"targets"}),
        ),
        LambdaTask(
            "FleetGate",
            "freshtrack_ops.handlers.fleet.gate",
            "Whether a fleet may start a host's update; record its end, halting the fleet after a failure",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "FleetReport",
            "freshtrack_ops.handlers.fleet.report",
            "Every host of a fleet update with its outcome; the summary its notification and failure carry",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "DrValidate",
            "freshtrack_ops.handlers.dr.validate",
            "Validate a disaster-recovery request; plan the replacement, the verified backup, the DNS change",
            grants=frozenset({"targets", "table", "bucket-read"}),
        ),
        LambdaTask(
            "DrReplacement",
            "freshtrack_ops.handlers.dr.replacement",
            "A disaster recovery's replacement server: launch it (RunInstances), report when it runs and answers "
            "(host key pinned from its console, or online in SSM), register it for the host steps, terminate it",
            # ssh-keys: "answers" is an SSH login with the key pair's key and the pinned host key
            grants=frozenset({"targets", "table", "ec2-replacement", "ssh-keys"}),
        ),
        LambdaTask(
            "DrCaptureConfig",
            "freshtrack_ops.handlers.dr_host.capture_config",
            "Keep the app-config secret current from the primary: .env.production and secrets/, never logged",
            timeout_s=120,
            grants=HOST_ACCESS | {"app-config-write", "bucket-write"},
        ),
        LambdaTask(
            "DrBootstrap",
            "freshtrack_ops.handlers.dr_host.bootstrap",
            "Bootstrap a replacement: clone the app at the backup's version, write .env.production and secrets/ "
            "(mode 600) from the app-config secret",
            timeout_s=600,
            grants=HOST_ACCESS | {"app-config-read", "bucket-write"},
        ),
        LambdaTask(
            "DrApproval",
            "freshtrack_ops.handlers.dr.approval",
            "Keep the task token and ask for approval of a recovery's DNS change (dr.approval)",
            grants=frozenset({"table", "notify"}),
        ),
        LambdaTask(
            "DrDns",
            "freshtrack_ops.handlers.dr.dns",
            "UPSERT the domain's Route 53 record onto the replacement; report when the change is INSYNC",
            grants=frozenset({"targets", "route53-record"}),
        ),
        LambdaTask(
            "DrPromote",
            "freshtrack_ops.handlers.dr.promote",
            "Point the target's inventory entry at the replacement; mark the old server retired",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "DrRecord",
            "freshtrack_ops.handlers.dr.record",
            "Record a disaster recovery or drill in the catalog with its RTO and RPO; emit them as metrics",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "AlertWebhook",
            "freshtrack_ops.handlers.alerts.handler",
            "The alert webhook (API Gateway HTTP API): authenticate Alertmanager and Grafana deliveries, dedupe each "
            "alert, match the target's rules, start remediations, audit everything",
            # API Gateway waits at most 30 s for its integration; the webhook answers in well under a second
            timeout_s=29,
            memory_mb=512,
            grants=frozenset({"targets", "table", "start-remediation", "notify", "webhook-secrets"}),
        ),
        LambdaTask(
            "RemediationValidate",
            "freshtrack_ops.handlers.remediation.validate",
            "Validate a remediation request, resolve the target's settings, pass the guard (rate limit, circuit "
            "breaker) and plan the commands",
            grants=frozenset({"targets", "table", "notify"}),
        ),
        LambdaTask(
            "RemediationCheck",
            "freshtrack_ops.handlers.remediation_host.check",
            "Check an alert's condition on the host (service running, disk use, certificate validity, memory)",
            timeout_s=120,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "RemediationAct",
            "freshtrack_ops.handlers.remediation_host.act",
            "Run one remediation action on the host (compose up, restart, disk cleanup without volumes, restart the "
            "top memory consumer, certificate check and Caddy restart)",
            timeout_s=600,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "RemediationRecord",
            "freshtrack_ops.handlers.remediation.record",
            "Close a remediation's audit entry, feed the circuit breaker (escalate when it opens), word the "
            "notification",
            grants=frozenset({"table", "notify"}),
        ),
        LambdaTask(
            "DailyCheckValidate",
            "freshtrack_ops.handlers.daily.validate",
            "Validate a daily-check request; the UTC day it is for",
            grants=frozenset({"targets"}),
        ),
        LambdaTask(
            "DailyCheckCollect",
            "freshtrack_ops.handlers.daily_host.collect",
            "Read the manual's daily checks on the host (daily_check.sh): services, docker stats, disk, certificate, "
            "the log queries, firewall, fail2ban, reboot flag, pending updates",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "DailyCheckReport",
            "freshtrack_ops.handlers.daily.report",
            "Judge a daily check against the target's thresholds; store the report (JSON, HTML with charts) and the "
            "day's figures; emit them as metrics; word the notification",
            timeout_s=120,
            memory_mb=512,
            grants=frozenset({"targets", "table", "reports"}),
        ),
        LambdaTask(
            "ChatNotify",
            "freshtrack_ops.handlers.chat.handler",
            "Forward each notification of the topic (subject and message, presigned links redacted) to the chat "
            "webhook; retry 429/5xx, then fail into the dead-letter queue",
            # subscribed to the notification topic when chat is enabled (stacks/chat.py), invoked by no workflow;
            # every attempt and pause of chat.max_attempts fits in it (ChatSettings checks)
            timeout_s=CHAT_TIMEOUT_S,
            grants=frozenset({"chat-secret"}),
        ),
        LambdaTask(
            "ServiceValidate",
            "freshtrack_ops.handlers.service.validate",
            "Validate a service operation (the action, the service, the address, the typed confirmation of a "
            "destructive one), audit its start, plan its commands",
            grants=frozenset({"targets", "table"}),
        ),
        LambdaTask(
            "ServiceAct",
            "freshtrack_ops.handlers.service_host.act",
            "Run one service operation on the host (compose up/stop/down/restart/ps/logs, the emergency stop, "
            "restart and force rebuild, a fail2ban unban); save a logs action's lines to S3, redacted",
            timeout_s=900,
            # reports: a logs action writes reports/<host>/logs/<execution>.log (over SSH here; over SSM in
            # HostCommandDone, which has the grant too)
            grants=HOST_ACCESS | {"reports"},
        ),
        LambdaTask(
            "ServiceRecord",
            "freshtrack_ops.handlers.service.record",
            "Close a service operation's audit entry; word its notification (what ran, the services' states after)",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "MaintenanceValidate",
            "freshtrack_ops.handlers.maintenance.validate",
            "Validate a maintenance request (os-update, rotate-secrets, db-pool, scale: ranges, allowed instance "
            "types, the typed confirmation), plan the pre-maintenance backup and the commands, audit its start",
            # ec2-describe: a scale checks the instance's type and state before anything runs
            grants=frozenset({"targets", "table", "ec2-describe"}),
        ),
        LambdaTask(
            "MaintenanceRecord",
            "freshtrack_ops.handlers.maintenance.record",
            "Close a maintenance run's audit entry, count its outcome (MaintenanceHostNotBack for the alarm), word the "
            "notification: what changed, or exactly where it stopped and the state the host is in",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "MaintenanceDbPool",
            "freshtrack_ops.handlers.maintenance_host.db_pool",
            "Read, set or restore DB_POOL_SIZE in .env.production (atomically) and recreate the pool's services",
            timeout_s=300,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "MaintenanceRotateSecrets",
            "freshtrack_ops.handlers.maintenance_host.rotate_secrets",
            "Rotate the database password and JWT secret on the host (generated there; ALTER ROLE on stdin; files "
            "swapped atomically; compose down/up), revert to the kept old values, or commit (delete them)",
            timeout_s=600,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "MaintenanceOsUpgrade",
            "freshtrack_ops.handlers.maintenance_host.upgrade",
            "apt-get update and a non-interactive upgrade on the host (the dpkg lock waited for, a time limit); over "
            "SSM a required reboot through the SSM Agent (exit 194): the command ends after the host is back",
            timeout_s=900,
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "MaintenanceOsReboot",
            "freshtrack_ops.handlers.maintenance_host.reboot",
            "Reboot an SSH host a few seconds after the command returns; its boot id before",
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "MaintenanceProbe",
            "freshtrack_ops.handlers.maintenance_host.probe",
            "Ask the host whether it answers: boot id (rebooted since?), uptime, CPUs, memory, disk",
            grants=HOST_ACCESS,
        ),
        LambdaTask(
            "ScaleInstance",
            "freshtrack_ops.handlers.scale.instance",
            "One EC2 action on a target's instance (describe, stop, set the type, start) for the scale workflow, which "
            "polls describe between them",
            grants=frozenset({"targets", "ec2-scale"}),
        ),
        LambdaTask(
            "RetentionProtect",
            "freshtrack_ops.handlers.retention.protect",
            "Tag the last verified backups protected, the rest expiring; forget expired catalog entries",
            timeout_s=300,
            grants=frozenset({"targets", "table", "bucket-tags"}),
            schedule="cron(0 5 * * ? *)",
        ),
        LambdaTask(
            "RetentionRpo",
            "freshtrack_ops.handlers.retention.rpo",
            "Emit the age of each target's newest verified backup (NewestVerifiedBackupAgeHours)",
            grants=frozenset({"targets", "table"}),
            schedule="cron(15 * * * ? *)",
        ),
    )
}

WORKFLOWS: dict[str, Workflow] = {
    wf.name: wf
    for wf in (
        Workflow("backup", "backup.asl.json", "Stream a pg_dump of a target's database to S3 with a manifest"),
        Workflow("test-restore", "test_restore.asl.json", "Restore a backup into a scratch database and compare"),
        Workflow(
            "restore",
            "restore.asl.json",
            "Replace the live database from a backup: by swap (the old database kept aside) when the disk allows, else "
            "safety backup, drop and load; revert on failure",
        ),
        Workflow(
            "drop-asides",
            "drop_asides.asl.json",
            "Drop the aside databases of restores by swap whose restore.keep_aside_hours are up, and the incoming "
            "and scratch databases failed runs handed over (hourly, every target); a failed drop keeps its catalog "
            "record and notifies",
        ),
        Workflow(
            "update",
            "update.asl.json",
            "Update the application (a release, or its images); roll back on failure (the code or the image "
            "digests, and the database if its schema changed)",
        ),
        Workflow(
            "rollback",
            "rollback.asl.json",
            "Roll the application back to a version its deployment history recorded (and the database, if asked "
            "or if its schema changed)",
        ),
        Workflow(
            "disaster-recovery",
            "disaster_recovery.asl.json",
            "Recover a target onto a new or standby server from a verified backup (recover: move its DNS record and "
            "inventory; drill: measure RTO/RPO and terminate the server)",
        ),
        Workflow(
            "capture-config",
            "capture_config.asl.json",
            "Keep a target's app-config secret (.env.production, secrets/) current from its server, for disaster "
            "recovery",
        ),
        Workflow(
            "remediation",
            "remediation.asl.json",
            "Remediate an alert on a target: guard, host lock, act (or report the commands in a dry run), verify the "
            "alert's condition, audit and notify",
        ),
        Workflow(
            "daily-check",
            "daily_check.asl.json",
            "The daily check of a target: the manual's health, log, disk, certificate, firewall, fail2ban and update "
            "checks, judged into a report (JSON, HTML with 30 days of charts) in S3 and a notification",
        ),
        Workflow(
            "service",
            "service.asl.json",
            "Operate a target's services (start, stop, restart, status, logs saved to S3, the emergency stop, restart "
            "and force rebuild, a fail2ban unban): validated, confirmed when destructive, under the host lock, "
            "audited and notified",
        ),
        Workflow(
            "db-pool",
            "db_pool.asl.json",
            "Change the database connection pool (DB_POOL_SIZE) after a verified backup; verify; put the old value "
            "back on failure",
        ),
        Workflow(
            "rotate-secrets",
            "rotate_secrets.asl.json",
            "Rotate the database password and JWT secret after a verified backup, without leaking them; verify; put "
            "the old values back on failure; refresh the DR copy",
        ),
        Workflow(
            "os-update",
            "os_update.asl.json",
            "The monthly OS update after a verified backup: apt upgrade, a reboot only if required, verify; a host "
            "that does not come back alarms",
        ),
        Workflow(
            "scale",
            "scale.asl.json",
            "Resize a target's EC2 instance after a verified backup: stop, new type, start, verify; the old type back "
            "if the new one cannot start",
        ),
        Workflow(
            "update-fleet",
            "update_fleet.asl.json",
            "Update a fleet: a canary first, then the rest in waves of nested updates; stop starting more on a failure",
        ),
    )
}
