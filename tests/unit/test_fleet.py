"""The fleet update's domain: planning (targets, canary, bounds, nested names), classifying a nested update's end,
the gate (claims are refused once halted, atomically), the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.adapters.dynamo import DynamoFleetGate
from freshtrack_ops.config import LocalTarget, TargetSet
from freshtrack_ops.errors import InvalidInput
from freshtrack_ops.fleet.models import (
    MAX_CAUSE_CHARS,
    MAX_FLEET_HOSTS,
    MAX_SEQUENTIAL_UPDATES,
    CanaryRun,
    ClaimEvent,
    FleetResults,
    HostOutcome,
    RecordEvent,
    ReportEvent,
    ValidateFleetEvent,
)
from freshtrack_ops.fleet.outcome import claim, classify, record
from freshtrack_ops.fleet.plan import child_name, fleet_name, plan_fleet
from freshtrack_ops.fleet.report import MAX_SUMMARY_CHARS, fleet_report
from freshtrack_ops.ports import FleetHalt
from opsctl.local.ops_table import create_ops_table

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ftops-update-fleet:monthly"
UPDATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ftops-update"
TARGETS = TargetSet(targets=tuple(LocalTarget(id=h, domain=f"{h}.example.org") for h in ("prod-a", "prod-b", "prod-c")))


def _event(name: str = "monthly", **request: Any) -> ValidateFleetEvent:
    return ValidateFleetEvent(
        request={"version": "v1.4.0", "targets": "all"} | request,
        execution_id=EXECUTION,
        execution_name=name,
        started_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    )


def test_all_means_every_target_in_configuration_order_with_the_first_as_canary() -> None:
    plan = plan_fleet(_event(), TARGETS)
    assert plan.canary.host == "prod-a"
    assert [m.host for m in plan.rest] == ["prod-b", "prod-c"]
    assert plan.canary.execution_name == "monthly-prod-a"
    assert plan.max_concurrency == 1 and plan.sequential_updates == 3
    assert plan.update.reason == "update of fleet monthly"


def test_the_canary_goes_first_and_the_rest_keep_the_requested_order() -> None:
    plan = plan_fleet(
        _event(targets=["prod-c", "prod-a", "prod-b"], canary="prod-b", max_concurrency=2, reason="CVE fix"), TARGETS
    )
    assert plan.canary.host == "prod-b"
    assert [m.host for m in plan.rest] == ["prod-c", "prod-a"]
    assert plan.sequential_updates == 2
    assert plan.update.reason == "CVE fix (fleet monthly)"


@pytest.mark.parametrize(
    ("request_changes", "message"),
    [
        ({"targets": ["prod-a", "staging"]}, "targets: unknown target 'staging' (known: prod-a, prod-b, prod-c)"),
        ({"targets": ["prod-a", "prod-a"]}, "targets: listed more than once: prod-a (got ['prod-a', 'prod-a'])"),
        ({"targets": []}, "targets: at least one target is needed (got ())"),
        ({"targets": ["prod-a", "prod-b"], "canary": "prod-c"}, "canary: must be one of the targets prod-a, prod-b"),
        ({"max_concurrency": 0}, "max_concurrency: Input should be greater than or equal to 1 (got 0)"),
        ({"max_concurrency": 41}, "max_concurrency: Input should be less than or equal to 40 (got 41)"),
        ({"version": "--upload-pack=touch /tmp/x"}, "version: String should match pattern"),
        ({"targets": "some"}, "targets: Input should be a valid tuple or Input should be 'all'"),
        ({"host": "prod-a"}, "host: Extra inputs are not permitted (got 'prod-a')"),
        ({"rollback_database": "sometimes"}, "rollback_database: Input should be 'auto', 'always' or 'never'"),
    ],
)
def test_bad_requests_name_the_field(request_changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan_fleet(_event(**request_changes), TARGETS)
    assert message in str(refused.value)


def test_a_child_input_the_update_workflow_would_refuse_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nested input is checked by the update's own validator (plan_update): should the two ever disagree,
    the fleet refuses before any host is touched (here: the update suddenly allows only release tags)."""
    from pydantic import field_validator

    from freshtrack_ops.update.models import UpdateRequest

    class Stricter(UpdateRequest):
        @field_validator("version")
        @classmethod
        def _tags_only(cls, version: str) -> str:
            if not version.startswith("v"):
                raise ValueError("release tags only")
            return version

    monkeypatch.setattr("freshtrack_ops.update.plan.UpdateRequest", Stricter)
    with pytest.raises(
        InvalidInput, match=r"update of prod-a: version: Value error, release tags only \(got 'latest'\)"
    ):
        plan_fleet(_event(version="latest"), TARGETS)


def test_image_updates_are_refused_before_any_host_starts() -> None:
    with pytest.raises(InvalidInput, match=r"kind: a fleet rolls out releases only; run image updates per host"):
        plan_fleet(_event(kind="images"), TARGETS)


def test_too_many_waves_for_the_fleets_timeout_are_refused_naming_the_concurrency_needed() -> None:
    hosts = tuple(LocalTarget(id=f"h{n:03d}", domain="x.example.org") for n in range(MAX_FLEET_HOSTS))
    many = TargetSet(targets=hosts)
    with pytest.raises(InvalidInput, match=r"max_concurrency: 99 hosts after the canary take 99 waves") as refused:
        plan_fleet(_event(), many)
    assert f"at most {MAX_SEQUENTIAL_UPDATES} nested updates" in str(refused.value)
    assert plan_fleet(_event(max_concurrency=3), many).sequential_updates == 34
    too_many = TargetSet(targets=(*hosts, LocalTarget(id="h999", domain="x.example.org")))
    with pytest.raises(InvalidInput, match=f"targets: at most {MAX_FLEET_HOSTS} hosts per fleet"):
        plan_fleet(_event(max_concurrency=40), too_many)


def test_nested_names_are_valid_unique_and_repeatable() -> None:
    assert fleet_name("monthly", EXECUTION) == "monthly"
    odd = fleet_name("release 1.4 (March)", EXECUTION)
    assert odd.startswith("release-1-4--March--") and len(odd) <= 80, "any console name becomes a valid prefix"
    assert fleet_name("release-1.4", EXECUTION) != fleet_name("release-1-4", EXECUTION + "x"), "no collision"
    long_fleet = "f" * 80
    host = "h" * 40
    names = {child_name(long_fleet, f"{host[:-1]}{n}", EXECUTION) for n in range(5)}
    assert len(names) == 5 and all(len(n) <= 80 for n in names)
    assert child_name(long_fleet, host, EXECUTION) == child_name(long_fleet, host, EXECUTION), "same on a retry"
    assert child_name(long_fleet, host, EXECUTION) != child_name(long_fleet, host, EXECUTION + "2")


def _record(run: dict[str, Any]) -> RecordEvent:
    return RecordEvent(
        action="record",
        execution_id=EXECUTION,
        host="prod-b",
        execution_name="monthly-prod-b",
        update_state_machine_arn=UPDATE_MACHINE,
        run=run,
    )


def _child_failed(error: str, cause: str, status: str = "FAILED") -> dict[str, Any]:
    """What the Catch of a startExecution.sync:2 state hands on when the child did not succeed."""
    described = {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:ftops-update:monthly-prod-b",
        "Status": status,
        "Error": error,
        "Cause": cause,
    }
    return {"Error": "States.TaskFailed", "Cause": json.dumps(described)}


CHILD_ARN = "arn:aws:states:us-east-1:123456789012:execution:ftops-update:monthly-prod-b"


@pytest.mark.parametrize(
    ("run", "status", "error"),
    [
        ({"execution_arn": CHILD_ARN, "status": "SUCCEEDED", "output": {"to_version": "v1.4.0"}}, "succeeded", ""),
        (_child_failed("RolledBack", "rolled back to v1.3.0 and verified"), "rolled-back", "RolledBack"),
        (_child_failed("RollbackFailed", "the rollback failed too"), "failed", "RollbackFailed"),
        (_child_failed("AlreadyAtVersion", "prod-b already runs v1.4.0"), "current", "AlreadyAtVersion"),
        (_child_failed("LockHeld", "host 'prod-b' is locked by a restore"), "failed", "LockHeld"),
        (_child_failed("Aborted", "aborted by an operator", status="ABORTED"), "failed", "Aborted"),
        ({"Error": "States.Timeout"}, "failed", "TimedOut"),
        ({"Error": "StepFunctions.ExecutionAlreadyExistsException", "Cause": "Execution Already Exists"}, "failed", ""),
        ({"surprise": 1}, "failed", "UnknownOutcome"),
    ],
)
def test_a_nested_updates_end_is_classified(run: dict[str, Any], status: str, error: str) -> None:
    outcome = classify(_record(run))
    assert outcome.status == status
    assert outcome.error == error or (not error and outcome.error.startswith("StepFunctions.")) or status == "succeeded"
    assert outcome.execution_arn == CHILD_ARN, "known even when the child never reported (the name is ours)"
    if status == "succeeded":
        assert outcome.version == "v1.4.0"
    assert len(outcome.cause) <= MAX_CAUSE_CHARS


def test_an_aborted_child_says_so_and_a_long_cause_is_cut() -> None:
    aborted = classify(_record(_child_failed("Aborted", "x" * 5000, status="ABORTED")))
    assert aborted.cause.startswith("the update execution was ABORTED: ")
    assert len(aborted.cause) == MAX_CAUSE_CHARS


@pytest.fixture
def gate() -> Iterator[DynamoFleetGate]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ops_table(client, "ops")
        yield DynamoFleetGate(client, "ops", keep_seconds=3600, clock=lambda: 1_000_000.0)


def test_claims_succeed_until_the_first_halt_which_is_kept(gate: DynamoFleetGate) -> None:
    assert gate.claim(EXECUTION, "prod-a") is None
    assert gate.claim(EXECUTION, "prod-b") is None
    first = gate.halt(EXECUTION, "prod-b", "prod-b failed")
    assert first == FleetHalt(by="prod-b", reason="prod-b failed", at=1_000_000)
    assert gate.halt(EXECUTION, "prod-a", "prod-a failed") == first, "the first halt is kept"
    assert gate.claim(EXECUTION, "prod-c") == first
    assert gate.started(EXECUTION) == ["prod-a", "prod-b"], "a refused claim records nothing"
    assert gate.halted(EXECUTION + "-other") is None, "fleets are independent"
    assert gate.claim(EXECUTION + "-other", "prod-c") is None


def test_the_fleet_item_expires_through_the_tables_ttl(gate: DynamoFleetGate) -> None:
    gate.claim(EXECUTION, "prod-a")
    item = gate._client.get_item(TableName="ops", Key={"pk": {"S": f"FLEET#{EXECUTION}"}, "sk": {"S": "FLEET"}})
    assert item["Item"]["expires_at"] == {"N": str(1_000_000 + 3600)}


def test_a_failure_halts_the_fleet_and_a_success_does_not(gate: DynamoFleetGate) -> None:
    ok = record(_record({"execution_arn": CHILD_ARN, "status": "SUCCEEDED", "output": {}}), gate)
    assert ok.status == "succeeded" and gate.halted(EXECUTION) is None
    current = record(_record(_child_failed("AlreadyAtVersion", "already")), gate)
    assert current.status == "current" and gate.halted(EXECUTION) is None
    record(_record(_child_failed("RolledBack", "rolled back")), gate)
    halt = gate.halted(EXECUTION)
    assert halt is not None and halt.by == "prod-b"
    assert halt.reason == "prod-b rolled-back (RolledBack: rolled back)"
    refused = claim(ClaimEvent(action="claim", execution_id=EXECUTION, host="prod-c"), gate)
    assert not refused.go
    assert refused.outcome == HostOutcome(
        host="prod-c",
        status="skipped",
        cause="not started: updates stopped: prod-b rolled-back (RolledBack: rolled back)",
    )


def _report(canary: HostOutcome | None, rollout: tuple[HostOutcome, ...] = (), **results: Any) -> ReportEvent:
    plan = plan_fleet(_event(), TARGETS)
    return ReportEvent(
        plan=plan,
        results=FleetResults(canary=CanaryRun(outcome=canary) if canary else None, rollout=rollout, **results),
    )


def _good(host: str) -> HostOutcome:
    return HostOutcome(host=host, status="succeeded", execution_arn=f"{CHILD_ARN}-{host}", version="v1.4.0")


def test_a_report_of_a_good_fleet() -> None:
    report = fleet_report(_report(_good("prod-a"), (_good("prod-b"), _good("prod-c"))), None)
    assert report.succeeded and report.counts == {"succeeded": 3}
    assert report.summary.startswith("Fleet update monthly to v1.4.0 succeeded on all 3 hosts (3 succeeded; canary")
    assert "- prod-c: succeeded v1.4.0" in report.summary


def test_a_report_after_a_failed_canary_lists_the_others_as_not_started() -> None:
    canary = HostOutcome(host="prod-a", status="rolled-back", error="RolledBack", cause="VerificationFailed: 500")
    halt = FleetHalt(by="prod-a", reason="prod-a rolled-back (RolledBack: VerificationFailed: 500)", at=1)
    report = fleet_report(_report(canary), halt)
    assert not report.succeeded
    assert [(h.host, h.status) for h in report.hosts] == [
        ("prod-a", "rolled-back"),
        ("prod-b", "skipped"),
        ("prod-c", "skipped"),
    ]
    assert report.hosts[1].cause == "not started: the canary prod-a rolled-back"
    assert "prod-a rolled-back: RolledBack: VerificationFailed: 500" in report.summary
    assert "Not started (unchanged): prod-b, prod-c." in report.summary
    assert report.halted_by == "prod-a"


def test_a_report_when_a_map_itself_failed_says_what_is_unknown() -> None:
    broken = {"Error": "States.Runtime", "Cause": "An error occurred while executing the state 'WaveClaim'"}
    report = fleet_report(_report(_good("prod-a"), rollout_error=broken), None)
    assert not report.succeeded
    assert report.hosts[1].cause == (
        "not started: the rollout ended early: WorkflowError: An error occurred while executing the state 'WaveClaim'"
    )
    no_canary = fleet_report(_report(None, canary_error=broken), None)
    assert no_canary.hosts[0].status == "failed" and "did not report" in no_canary.hosts[0].cause


def test_the_largest_fleet_fits_step_functions_state_and_cause_limits() -> None:
    """Every host at its longest (40-character id, 80-character name, a cause at the cap): the plan plus every
    outcome stays under the 256 KB of state data, the summary under a Fail cause's 32,768 characters."""
    hosts = tuple(LocalTarget(id=f"{'h' * 36}{n:04d}", domain="x.example.org") for n in range(MAX_FLEET_HOSTS))
    plan = plan_fleet(_event(name="n" * 80, max_concurrency=40), TargetSet(targets=hosts))
    outcomes = tuple(
        HostOutcome(
            host=m.host,
            status="failed",
            execution_arn=f"{UPDATE_MACHINE.replace('stateMachine', 'execution')}:{m.execution_name}",
            error="RollbackFailed",
            cause="c" * MAX_CAUSE_CHARS,
        )
        for m in plan.rest
    )
    event = ReportEvent(plan=plan, results=FleetResults(canary=CanaryRun(outcome=outcomes[0]), rollout=outcomes))
    report = fleet_report(event, None)
    state = {"plan": plan.model_dump(mode="json"), "results": event.results.model_dump(mode="json")}
    assert len(json.dumps(state).encode()) < 256 * 1024
    assert len(report.model_dump_json().encode()) < 256 * 1024
    assert len(report.summary) <= MAX_SUMMARY_CHARS


def test_opsctl_halt_fleet_halts_the_gate_and_names_the_hosts_started(
    gate: DynamoFleetGate, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from opsctl import session
    from opsctl.backend import Backend
    from opsctl.cli import main

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # the deployed stack's outputs name the table (moto here: the gate fixture's table "ops")
    backend = Backend(client=boto3.client, outputs={"OpsTableName": "ops"}, where="test stack")
    monkeypatch.setattr(session, "BACKEND_OVERRIDE", lambda _: backend)
    gate.claim(EXECUTION, "prod-a")
    assert main(["halt-fleet", EXECUTION, "--reason", "customers report errors"]) == 0
    assert "hosts started so far: prod-a" in capsys.readouterr().out
    assert gate.claim(EXECUTION, "prod-b") == gate.halted(EXECUTION)
    halted = gate.halted(EXECUTION)
    assert halted is not None and halted.by == "operator" and "customers report errors" in halted.reason

    assert main(["halt-fleet", EXECUTION + "x", "--reason", "typo"]) == 0
    assert "none (is this the fleet execution?)" in capsys.readouterr().out
