"""The catalog of Lambda tasks and workflows: one source for CDK, the local plane and the ASL checks."""

from __future__ import annotations

from dataclasses import dataclass


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
            "Validate a backup request and plan ids and keys",
            grants=frozenset({"targets"}),
        ),
        LambdaTask(
            "HostLock",
            "freshtrack_ops.handlers.lock.handler",
            "Acquire or release the per-host lock",
            grants=frozenset({"table"}),
        ),
        LambdaTask(
            "BackupPreflight",
            "freshtrack_ops.handlers.backup.preflight",
            "Check database, disk and versions on the host",
            timeout_s=180,
            grants=frozenset({"targets", "ssh-keys"}),
        ),
        LambdaTask(
            "BackupDump",
            "freshtrack_ops.handlers.backup.dump",
            "Stream pg_dump from the host into S3",
            timeout_s=900,
            memory_mb=512,
            grants=frozenset({"targets", "ssh-keys", "bucket-write"}),
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
    )
}

WORKFLOWS: dict[str, Workflow] = {
    wf.name: wf
    for wf in (
        Workflow("backup", "backup.asl.json", "Stream a pg_dump of a target's database to S3 with a manifest"),
    )
}
