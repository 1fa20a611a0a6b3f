"""Host jobs: the inline-or-job choice, the poll protocol, the undo log, and the poll step's deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops import jobs
from freshtrack_ops.adapters.undo_log import DynamoUndoLog, UndoEntry
from freshtrack_ops.config import LocalTarget
from freshtrack_ops.errors import HostCommandFailed, HostCommandTimeout
from freshtrack_ops.jobs import HostJob, JobExited, JobLost, JobPollEvent, JobRunning, JobStarted
from freshtrack_ops.models import VerifyResult
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.steps.job_poll import PollContext
from freshtrack_ops.steps.registry import JOB_POLL
from opsctl.local.ops_table import create_ops_table

TARGET = LocalTarget(id="demo", domain="demo.freshtrack.local")
JOB_ID = "0123456789abcdef"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:backup:run-1"


@pytest.mark.parametrize(
    ("estimate", "budget", "mode"),
    [
        (10.0, 900.0, "inline"),
        (450.0, 900.0, "inline"),
        (451.0, 900.0, "job"),
        (5.0, 2.0, "job"),
        (1e9, None, "inline"),
    ],
)
def test_a_transfer_runs_inline_only_when_it_fits_half_its_budget(
    estimate: float, budget: float | None, mode: str
) -> None:
    assert jobs.choose_mode(estimate, budget) == mode


def test_the_estimate_is_size_over_rate() -> None:
    assert jobs.estimate_s(100_000_000, 10.0) == pytest.approx(10.0)


def test_polls_start_often_and_settle_at_five_minutes() -> None:
    assert jobs.next_poll_s(0) == jobs.MIN_POLL_S
    assert jobs.next_poll_s(600) == 60
    assert jobs.next_poll_s(86_400) == jobs.MAX_POLL_S


def test_a_started_job_must_say_so_with_its_own_id() -> None:
    jobs.read_started(TARGET, JOB_ID, CommandResult(0, f"JOB {JOB_ID} STARTED\n", ""))
    with pytest.raises(HostCommandFailed, match="did not start"):
        jobs.read_started(TARGET, JOB_ID, CommandResult(0, "JOB ffffffffffffffff STARTED\n", ""))
    with pytest.raises(HostCommandFailed, match="already exists"):
        jobs.read_started(TARGET, JOB_ID, CommandResult(73, "", f"job {JOB_ID} already exists\n"))


def test_poll_output_is_running_exited_or_lost() -> None:
    running = jobs.read_poll(
        TARGET, JOB_ID, CommandResult(0, "JOBSTATE running\nJOBPROGRESS parts=3 bytes=90 needurls=4 elapsed=12\n", "")
    )
    assert running == JobRunning(parts_done=3, needs_urls_from=4, elapsed_s=12)
    exited = jobs.read_poll(TARGET, JOB_ID, CommandResult(0, "JOBSTATE exited 2\nPART 1 x\nSHA256 y\n", "boom\n"))
    assert exited == JobExited(result=CommandResult(2, "PART 1 x\nSHA256 y\n", "boom\n"))
    assert jobs.read_poll(TARGET, JOB_ID, CommandResult(0, "JOBSTATE lost\n", "killed")) == JobLost(stderr="killed")
    with pytest.raises(HostCommandFailed, match="no job"):
        jobs.read_poll(TARGET, JOB_ID, CommandResult(66, "", "no job 0123456789abcdef on this host\n"))
    with pytest.raises(HostCommandFailed, match="unreadable"):
        jobs.read_poll(TARGET, JOB_ID, CommandResult(0, "JOBSTATE running\n", ""))


def _verify_job(**changes: Any) -> HostJob:
    job = jobs.new_job(
        "verify",
        TARGET,
        JOB_ID,
        '{"backup": {"host": "demo", "backup_id": "demo-20261130T020000Z-0123abcd", '
        '"dump_key": "backups/demo/2026/11/30/demo-20261130T020000Z-0123abcd.dump", '
        '"manifest_key": "backups/demo/2026/11/30/demo-20261130T020000Z-0123abcd.manifest.json"}}',
        "{}",
    )
    return job.model_copy(update=changes)


def test_a_running_job_goes_round_again_with_its_progress() -> None:
    job = _verify_job()
    output = JOB_POLL.finish(
        JobPollEvent(job=job),
        TARGET,
        PollContext(),
        CommandResult(0, "JOBSTATE running\nJOBPROGRESS parts=0 bytes=10 needurls=0 elapsed=30\n", ""),
    )
    assert isinstance(output, JobStarted)
    polled = output.job
    assert (polled.polls, polled.job_id, polled.event) == (1, JOB_ID, job.event)
    assert polled.poll_s >= jobs.MIN_POLL_S


def test_a_job_past_its_deadline_fails_the_poll_with_host_command_timeout() -> None:
    job = _verify_job(deadline_at=time.time() - 1)
    with pytest.raises(HostCommandTimeout, match="max_transfer_hours"):
        JOB_POLL.finish(
            JobPollEvent(job=job),
            TARGET,
            PollContext(),
            CommandResult(0, "JOBSTATE running\nJOBPROGRESS parts=0 bytes=10 needurls=0 elapsed=99\n", ""),
        )


def test_a_finished_poll_resolves_the_jobs_undo_entry_and_a_running_one_does_not() -> None:
    event = JobPollEvent(job=_verify_job())
    assert JOB_POLL.resolved_keys(event, JobStarted(job=event.job)) == []
    finished = VerifyResult(backup_id="demo-20261130T020000Z-0123abcd", sha256="0" * 64, size_bytes=1, toc_entries=1)
    assert JOB_POLL.resolved_keys(event, finished) == [f"job#{JOB_ID}"]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ops_table(client, "ops")
        yield client


def test_the_undo_log_keeps_each_executions_entries_until_resolved(dynamodb: Any) -> None:
    log = DynamoUndoLog(dynamodb, "ops", clock=lambda: 1_000)
    job = UndoEntry(
        key=f"job#{JOB_ID}", kind="job", step="dump", host="demo", event="{}", context=f'{{"job_id": "{JOB_ID}"}}'
    )
    scratch = UndoEntry(key="scratch#frostguard_verify_1", kind="scratch", step="database", host="demo", event="{}")
    log.record(EXECUTION, job)
    log.record(EXECUTION, scratch)
    log.record(EXECUTION + "-other", scratch)
    assert sorted(e.key for e in log.of_execution(EXECUTION)) == [f"job#{JOB_ID}", "scratch#frostguard_verify_1"]
    assert log.of_execution(EXECUTION, ["job"]) == [job]
    log.resolve(EXECUTION, [job.key])
    assert log.of_execution(EXECUTION) == [scratch]
    assert log.of_execution(EXECUTION + "-other") == [scratch]
    item = dynamodb.get_item(
        TableName="ops", Key={"pk": {"S": f"EXECUTION#{EXECUTION}"}, "sk": {"S": "UNDO#scratch#frostguard_verify_1"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > 1_000, "entries expire by TTL"
