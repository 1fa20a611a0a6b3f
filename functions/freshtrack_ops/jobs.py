"""Host jobs: data-path work too long for one invocation runs detached on the host; Step Functions polls it.

A Lambda runs at most 15 minutes, and a presigned URL dies with the credentials that signed it, so a dump,
verification or load of a large database cannot be one streamed invocation (SSH) or one command with URLs
minted once (SSM). Such a transfer starts as a job instead (``JOB_ID`` set: the script re-runs itself in a
session of its own, host_scripts/lib/job.sh), the task returns ``{"job": HostJob}`` at once, and the state
machine loops Wait -> poll (``job_poll.sh``, over the same transport) until the job has exited; the last poll
hands the job's output to the same ``finish`` code the foreground command would have used. Each poll may also
hand a dump fresh part URLs (see steps ``refresh``).

``choose_mode`` decides per transfer: inline when the estimate fits comfortably in the budget (the Lambda's
remaining time over SSH, the URLs' validity or the document's timeout over SSM), a job otherwise. A wrong
estimate only costs a few polls: the job path works for any size.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from freshtrack_ops.config import HOST_ID_PATTERN, Target
from freshtrack_ops.errors import HostCommandFailed
from freshtrack_ops.host_command import HostCommand, tail
from freshtrack_ops.ports import CommandResult

Mode = Literal["inline", "job"]
JOB_ID_PATTERN = r"^[0-9a-f]{16}$"
JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]
#: the share of the budget an inline transfer may be expected to use (the rest is margin for a slow day)
INLINE_SHARE = 0.5
#: polls come often at first (small jobs end quickly) and then every few minutes: a 24 h job takes a few
#: hundred polls, far from Step Functions' 25,000 history events per execution
MIN_POLL_S, MAX_POLL_S = 5, 300
POLL_TIMEOUT_S = 120.0
_STARTED = re.compile(r"^JOB ([0-9a-f]{16}) STARTED$", re.MULTILINE)
_PROGRESS = re.compile(r"^JOBPROGRESS parts=(\d+) bytes=(\d+) needurls=(\d+) elapsed=(-?\d+)$", re.MULTILINE)


class HostJob(BaseModel):
    """A running host job, as it travels between the poll states (small: ids, keys and counters only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z-]{0,31}$")]
    host: Annotated[str, StringConstraints(pattern=HOST_ID_PATTERN)]
    job_id: JobId
    #: the wrapped step's task input and context, as JSON (no secrets, no URLs)
    event: str
    context: str
    started_at: float
    deadline_at: float
    poll_s: int = MIN_POLL_S
    polls: int = 0
    parts_done: int = 0
    #: the size of each part a dump job uploads (0: the job uploads none): parts_done x part_bytes = bytes done
    part_bytes: int = 0
    #: the part the job waits for fresh URLs from (0: none)
    needs_urls_from: int = 0
    #: when the job's part URLs (a dump's) were last minted
    urls_minted_at: float = 0.0


class DataContext(BaseModel):
    """The context of a transfer (what its finish needs besides the event): ``job_id`` is set when it was
    started as a host job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: JobId | None = None


class JobPollEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job: HostJob


class JobStarted(BaseModel):
    """A transfer's output while it runs as a host job: the state machine polls ``job`` until it has exited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job: HostJob


@dataclass(frozen=True)
class JobRunning:
    parts_done: int
    #: the part the job waits for fresh URLs from (0: it waits for none)
    needs_urls_from: int
    elapsed_s: int


@dataclass(frozen=True)
class JobExited:
    """The job's result, exactly as the command would have returned it in the foreground."""

    result: CommandResult


@dataclass(frozen=True)
class JobLost:
    """No exit code and no live process: the host rebooted or the job was killed."""

    stderr: str


def new_job_id() -> str:
    return secrets.token_hex(8)


def choose_mode(estimated_s: float, budget_s: float | None) -> Mode:
    """Inline when the transfer is expected to take at most ``INLINE_SHARE`` of the budget."""
    if budget_s is None:
        return "inline"
    return "inline" if estimated_s <= budget_s * INLINE_SHARE else "job"


def estimate_s(size_bytes: int, rate_mb_s: float) -> float:
    return max(0.0, size_bytes / (rate_mb_s * 1_000_000))


def job_env(target: Target, job_id: str) -> dict[str, str]:
    return {"JOB_DIR": target.job_dir, "JOB_ID": job_id}


def new_job(
    step: str,
    target: Target,
    job_id: str,
    event_json: str,
    context_json: str,
    *,
    limit_s: float | None = None,
    now: float | None = None,
    part_bytes: int = 0,
) -> HostJob:
    """A job just started; its URLs (if it is a dump) were minted with it. It may run ``limit_s`` (the target's
    ``max_transfer_hours`` unless the step says otherwise)."""
    started = time.time() if now is None else now
    return HostJob(
        step=step,
        host=target.id,
        job_id=job_id,
        event=event_json,
        context=context_json,
        started_at=started,
        deadline_at=started + (limit_s if limit_s is not None else target.max_transfer_hours * 3600),
        urls_minted_at=started,
        part_bytes=part_bytes,
    )


def next_poll_s(elapsed_s: float) -> int:
    return int(min(MAX_POLL_S, max(MIN_POLL_S, elapsed_s / 10)))


def poll_command(target: Target, job_id: str, fresh_urls_url: str = "") -> HostCommand:
    env = {"JOB_DIR": target.job_dir, "JOB_ID": job_id, "FRESH_URLS_URL": fresh_urls_url}
    return HostCommand("job_poll.sh", env, POLL_TIMEOUT_S)


def cancel_command(target: Target, job_id: str) -> HostCommand:
    return HostCommand("job_cancel.sh", {"JOB_DIR": target.job_dir, "JOB_ID": job_id}, POLL_TIMEOUT_S)


def read_started(target: Target, job_id: str, result: CommandResult) -> None:
    """The job start printed ``JOB <id> STARTED`` and exited 0, or HostCommandFailed."""
    match = _STARTED.search(result.stdout)
    if result.exit_code != 0 or match is None or match.group(1) != job_id:
        raise HostCommandFailed(
            f"{target.id}: host job {job_id} did not start (exit {result.exit_code}): {tail(result.stderr)}"
        )


def read_poll(target: Target, job_id: str, result: CommandResult) -> JobRunning | JobExited | JobLost:
    """What ``job_poll.sh`` reported. A poll that itself failed raises HostCommandFailed."""
    if result.exit_code != 0:
        raise HostCommandFailed(
            f"{target.id}: polling host job {job_id} failed (exit {result.exit_code}): {tail(result.stderr)}"
        )
    first, _, rest = result.stdout.partition("\n")
    state = first.strip().split()
    if state[:2] == ["JOBSTATE", "exited"] and len(state) == 3 and state[2].isdigit():
        return JobExited(result=CommandResult(int(state[2]), rest, result.stderr))
    if state == ["JOBSTATE", "lost"]:
        return JobLost(stderr=result.stderr)
    progress = _PROGRESS.search(rest)
    if state == ["JOBSTATE", "running"] and progress is not None:
        return JobRunning(
            parts_done=int(progress.group(1)),
            needs_urls_from=int(progress.group(3)),
            elapsed_s=int(progress.group(4)),
        )
    raise HostCommandFailed(f"{target.id}: host job {job_id}: unreadable poll output {first[:80]!r}")
