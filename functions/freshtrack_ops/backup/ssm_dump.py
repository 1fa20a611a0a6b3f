"""The backup's data path through presigned URLs (every SSM backup, and an SSH backup run as a host job): the
host streams pg_dump into S3 through presigned part URLs.

``start_ssm_dump`` creates the multipart upload and the list of part URLs and returns the command to send;
``refresh_ssm_dump`` mints fresh URLs for the parts a running job has not uploaded yet;
``finish_ssm_dump`` reads the host's report (parts, sha256, row counts), completes the upload and returns the
same ``DumpResult`` as the SSH path; ``abandon_ssm_dump`` aborts an upload whose command failed. The part
URLs are bearer credentials: they live only in the exchange object (deleted after the upload, expired by
lifecycle otherwise) and in the command's parameter; never in the context, the result or a message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from freshtrack_ops.adapters import presign
from freshtrack_ops.backup.stream import parse_row_counts
from freshtrack_ops.config import StoredCompression, Target
from freshtrack_ops.errors import DumpFailed, OpsError, UploadFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.host_env import dump_env
from freshtrack_ops.jobs import DataContext
from freshtrack_ops.models import BackupPlan, DumpResult
from freshtrack_ops.ports import CommandResult, PresignedUploads

#: the estimate when preflight reported no database size
FALLBACK_ESTIMATE_BYTES = 1 << 30
#: exit codes of ssm_backup_upload.sh that mean "the upload, not pg_dump, failed"
_UPLOAD_EXITS: dict[int, type[OpsError]] = {42: UploadFailed, 43: UploadFailed, 44: UploadFailed, 45: UploadFailed}


class SsmUpload(DataContext):
    """What the completion needs to finish or abandon the upload (kept with the pending command)."""

    upload_id: str
    list_key: str
    part_size: int
    started_at: float
    #: how many part URLs the upload was planned for (fresh URLs are minted up to this part)
    parts: int = 0
    #: the compression the host was told to write (the manifest records it)
    compression: StoredCompression = "gzip-default"


def start_ssm_dump(
    plan: BackupPlan,
    target: Target,
    *,
    uploads: PresignedUploads,
    estimated_bytes: int | None,
    expires_s: int,
    compression: StoredCompression,
    part_size: int | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[HostCommand, SsmUpload]:
    """``expires_s``: how long the part URLs live (an inline command must end within it; a job gets fresh
    ones from its polls)."""
    estimate = estimated_bytes if estimated_bytes and estimated_bytes > 0 else FALLBACK_ESTIMATE_BYTES
    parts = presign.plan_parts(estimate, part_size=part_size)
    started = clock()
    upload_id, list_key, list_url = uploads.start(
        plan.dump_key,
        parts=parts.parts,
        expires_s=expires_s,
        metadata={"backup-id": plan.backup_id, "host": plan.host, "format": "pg_dump-custom"},
    )
    env = dump_env(target, compression) | {"PART_URLS_URL": list_url, "PART_SIZE": str(parts.part_size)}
    command = HostCommand("ssm_backup_upload.sh", env, timeout_s=3600)
    upload = SsmUpload(
        upload_id=upload_id,
        list_key=list_key,
        part_size=parts.part_size,
        started_at=started,
        parts=parts.parts,
        compression=compression,
    )
    return command, upload


def refresh_ssm_dump(
    plan: BackupPlan, upload: SsmUpload, *, uploads: PresignedUploads, first_part: int, expires_s: int, now: float
) -> str:
    """A presigned GET of fresh URLs for parts ``first_part`` up to the planned count ("" when none are left)."""
    last = upload.parts
    if first_part > last:
        return ""
    return uploads.fresh_part_urls(
        plan.dump_key, upload.upload_id, first=first_part, last=last, expires_s=expires_s, stamp=int(now)
    )


def finish_ssm_dump(
    plan: BackupPlan,
    target: Target,
    upload: SsmUpload,
    result: CommandResult,
    *,
    uploads: PresignedUploads,
    clock: Callable[[], float] = time.time,
) -> DumpResult:
    """Complete the upload from the host's report; on any failure the upload is aborted and the error named."""
    try:
        if result.exit_code != 0:
            error = _UPLOAD_EXITS.get(result.exit_code, DumpFailed)
            raise error(f"{target.id}: the SSM dump exited {result.exit_code}: {tail(result.stderr)}")
        row_counts = parse_row_counts(result.stdout)
        size, sha256, parts = uploads.complete(
            plan.dump_key, upload.upload_id, result.stdout, part_size=upload.part_size
        )
    except BaseException:
        abandon_ssm_dump(plan, upload, uploads=uploads)
        raise
    _discard(uploads, upload)
    finished = clock()
    return DumpResult(
        dump_key=plan.dump_key,
        size_bytes=size,
        sha256=sha256,
        parts=parts,
        row_counts=row_counts,
        compression=upload.compression,
        started_at=datetime.fromtimestamp(upload.started_at, UTC),
        finished_at=datetime.fromtimestamp(finished, UTC),
        duration_s=round(finished - upload.started_at, 3),
    )


def abandon_ssm_dump(plan: BackupPlan, upload: SsmUpload, *, uploads: PresignedUploads) -> None:
    """Abort the upload (its parts are deleted) and delete the part URLs; best effort, never raises."""
    with contextlib.suppress(ClientError, BotoCoreError):
        uploads.abort(plan.dump_key, upload.upload_id)
    _discard(uploads, upload)


def _discard(uploads: PresignedUploads, upload: SsmUpload) -> None:
    with contextlib.suppress(ClientError, BotoCoreError):
        uploads.discard_lists(upload.list_key)
