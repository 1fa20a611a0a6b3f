"""Faults of coordination (docs/reliability.md): two workflows wanting one host (the host lock), a lock left by an
execution that crashed, and the alert webhook under duplicates, storms, bad signatures and replays.

The host lock (adapters/dynamo.py ``DynamoLockTable``) is one DynamoDB item per host taken by a conditional put
(free, expired, or already the owner's) with a lease, released by a conditional delete (the owner's only). Every
workflow that changes a host takes it in its ``AcquireLock`` state (the shared ``HostLock`` task); the lock janitor
frees the lock of an execution that ended without its own cleanup (aborted, timed out).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.adapters.dynamo import lock_key
from freshtrack_ops.remediation.settings import RemediationSettings
from freshtrack_ops.update.models import DeploymentOutcome
from opsctl.local import faults, iam
from opsctl.local.events import EventRules
from opsctl.local.plane import Execution, LocalPlane
from tests.faults import invariants, matrix
from tests.faults.gates import lambda_gate

pytestmark = pytest.mark.integration

SSH = "demo"
CONFIRM = "frostguard"


@pytest.fixture(scope="module")
def verified(plane: LocalPlane) -> dict[str, Any]:
    """A verified backup of the host (what restores and recoveries start from) and a deployment in its history (what
    a rollback undoes): every workflow's request is valid, so each one gets as far as its lock."""
    backup = plane.run("backup", {"host": SSH, "reason": "for the lock faults"})
    assert backup.status == "SUCCEEDED" and backup.output is not None, (backup.error, backup.cause)
    digest = invariants.database_digest(plane, SSH)
    check = plane.run("test-restore", {"host": SSH, "backup_id": backup.output["backup_id"]})
    assert check.status == "SUCCEEDED", (check.error, check.cause)
    head = plane.host(SSH).app_version()
    with iam.plane_calls():
        runtime.deployment_history().record_deployment(
            DeploymentOutcome(
                update_id=f"{SSH}-20261101T000000Z-00000001", host=SSH, from_version="v1.1.0", from_commit="a" * 40,
                to_version=head, to_commit="b" * 40, backup_id=backup.output["backup_id"], schema_changed=False,
                outcome="succeeded", duration_s=60.0,
            )
        )  # fmt: skip
    return backup.output | {"digest": digest}


# -- lock contention between every pair of workflows that take the host lock ----------------------------------------

#: every workflow whose machine has an AcquireLock state (state_machines/*.asl.json; test-restore, daily-check,
#: drop-asides, capture-config and update-fleet take none) -> a request that passes its validation, and how it ends
#: when another execution holds the lock: the ones that fail at once name LockHeld; remediation and the maintenance
#: workflows wait for the lock (remediation.lock_wait_s, maintenance LOCK_WAIT_S) and then give way
LOCK_TAKERS: dict[str, tuple[dict[str, Any], str, str]] = {
    "backup": ({}, "FAILED LockHeld", "backup FAILED"),
    "restore": ({"backup_id": "latest-verified", "confirm": CONFIRM}, "FAILED LockHeld", "restore request rejected"),
    "update": ({"version": "latest"}, "FAILED LockHeld", "update request rejected"),
    "rollback": ({"to": "previous", "confirm": SSH}, "FAILED LockHeld", "rollback request rejected"),
    "disaster-recovery": ({}, "FAILED LockHeld", "disaster recovery REFUSED"),
    "remediation": ({"action": "restart-service", "service": "backend"}, "SUCCEEDED", "remediation deferred"),
    "service": ({"action": "restart", "service": "backend", "confirm": SSH}, "FAILED LockHeld", "service restart"),
    "os-update": ({}, "FAILED LockHeld", "os-update on demo not run"),
    "rotate-secrets": ({"confirm": SSH}, "FAILED LockHeld", "rotate-secrets on demo not run"),
    "db-pool": ({"size": 20}, "FAILED LockHeld", "db-pool on demo not run"),
    "scale": ({"instance_type": "t3.large", "confirm": SSH}, "FAILED LockHeld", "scale on demo not run"),
}
#: the ones that wait for the lock before they give way (the others are refused at once)
WAITERS = {"remediation", "service", "os-update", "rotate-secrets", "db-pool", "scale"}
#: the holders: the workflows of this part of the matrix, each held right after it took the lock (its first host step,
#: the backup preflight, held at its start): a backup, and a restore (which holds the lock as restore-verify first).
#: A refusal depends only on the lock item (the shared HostLock task's conditional put), and what a refused workflow
#: could do to any holder is asserted for each (nothing run on the host, the holder's lock left alone); holding each
#: of the nine other workflows as well would add nine full runs (about two minutes) and no assertion.
HOLDERS = {"backup": "succeeded", "restore": "restore succeeded"}


def _end(ex: Execution) -> str:
    return f"{ex.status} {ex.error}" if ex.error else ex.status


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_lock_contention(plane: LocalPlane, verified: dict[str, Any], holder: str) -> None:
    """A holds the lock; every lock-taking workflow B starts meanwhile (all at once): each B ends as it must when the
    host is taken (LockHeld, or gives way) and runs nothing on the host; then A goes on and finishes. One row per
    pair (A, B)."""
    host = plane.host(SSH)
    before = invariants.snapshot(plane, SSH)
    request = {"host": SSH} | (
        {"backup_id": verified["backup_id"], "confirm": "frostguard"} if holder == "restore" else {}
    )
    with lambda_gate("BackupPreflight") as gate:
        a = plane.start_execution(holder, request)
        gate.wait_entered()
        owner = (plane.lock_item(SSH) or {}).get("owner", {}).get("S")
        assert owner == a, "A holds the lock while its preflight is held"
        commands = len(host.commands())
        started = {b: plane.start_execution(b, {"host": SSH} | extra) for b, (extra, _, _) in LOCK_TAKERS.items()}
        ended = {b: plane.wait(arn, b) for b, arn in started.items()}
        assert host.commands()[commands:] == [], "no B ran anything on the host"
        assert (plane.lock_item(SSH) or {}).get("owner", {}).get("S") == a, "A still holds the lock"
    done = plane.wait(a, holder)
    for b, ex in ended.items():
        assert _end(ex) == LOCK_TAKERS[b][1], (b, ex.error, ex.cause)
        assert a in json.dumps(ex.history, default=str), f"{b}'s refusal names the holder"
    new_objects = lambda key: key.startswith(f"backups/{SSH}/") and key not in before.objects  # noqa: E731
    swapped = holder == "restore"
    held = invariants.check(
        plane, before, done, end="SUCCEEDED", new_objects=new_objects if holder == "backup" else lambda _key: False,
        data=verified["digest"] if swapped else None, new_databases=lambda name: swapped and "_aside_" in name,
        notification=[HOLDERS[holder], *(subject for _, _, subject in LOCK_TAKERS.values())],
    )  # fmt: skip
    plane.drop_asides(SSH)
    for b in LOCK_TAKERS:
        how = "waited, gave way" if b in WAITERS else "refused at once"
        matrix.record(
            "test_lock_contention", fault="the host lock is held by another execution when it starts", workflow=b,
            state="AcquireLock", transport="ssh",
            end_state=f"{LOCK_TAKERS[b][1]} ({how}), nothing ran; the holder ({holder}) SUCCEEDED",
            invariants=held, variant=f"{holder} holds, {b} starts",
        )  # fmt: skip


# -- a lock left by a crashed execution --------------------------------------------------------------------------------


def _owner(plane: LocalPlane, host: str) -> str | None:
    owner: str | None = (plane.lock_item(host) or {}).get("owner", {}).get("S")
    return owner


def test_lock_lease_expires_under_a_crashed_execution(plane: LocalPlane, verified: dict[str, Any]) -> None:
    """A backup crashes holding the lock and its end never reaches the janitor (the EventBridge event lost, as when
    its target fails until the event lands in the dead-letter queue). The lock stays until its lease ends
    (backup.lock_lease_seconds): a backup meanwhile is refused, naming the holder and its lease. When the lease has
    run out the next backup takes the lock over (the put's condition: expired); the crashed execution's janitor event,
    arriving late (EventBridge's retry), leaves the new owner's lock alone (the release is the owner's only)."""
    before = invariants.snapshot(plane, SSH)
    with lambda_gate("BackupPreflight") as gate:
        crashed = plane.start_execution("backup", {"host": SSH, "reason": "crashes"})
        gate.wait_entered()
        plane.sfn.stop_execution(executionArn=crashed, error="States.Runtime", cause="the execution crashed")
    assert plane.wait(crashed, "backup").status == "ABORTED"
    assert _owner(plane, SSH) == crashed, "nobody cleaned up after it"

    refused = plane.run("backup", {"host": SSH, "reason": "while the lease runs"})
    assert (
        _end(refused) == "FAILED LockHeld"
        and crashed in (refused.cause or "")
        and "lease until" in (refused.cause or "")
    )

    # the lease (an hour) runs out: what the clock would do to the item, done to it
    plane.dynamodb.update_item(
        TableName=plane.table, Key=lock_key(SSH), UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )  # fmt: skip
    with lambda_gate("BackupPreflight") as gate:
        taker = plane.start_execution("backup", {"host": SSH, "reason": "after the lease"})
        gate.wait_entered()
        assert _owner(plane, SSH) == taker, "the expired lock was taken over"
        late = EventRules.execution_stopped(crashed, plane.sfn.describe_execution(executionArn=crashed))
        assert late["released"] is False, late
        assert _owner(plane, SSH) == taker, "the late cleanup left the new owner's lock alone"
    done = plane.wait(taker, "backup")
    output = done.output or {}
    held = invariants.check(
        plane, before, done, end="SUCCEEDED",
        new_objects=lambda key: key in (output.get("dump_key"), output.get("manifest_key")),
        notification=["backup FAILED", "backup succeeded", "ABORTED"],
    )  # fmt: skip
    matrix.record(
        "test_lock_lease_expires_under_a_crashed_execution",
        fault="a backup crashes holding the lock; its janitor event is lost, then delivered late", workflow="backup",
        state="AcquireLock", transport="ssh",
        end_state="refused (LockHeld) until the lease ended, then taken over; the late cleanup leaves it alone",
        invariants=held,
    )  # fmt: skip


# -- the alert webhook ------------------------------------------------------------------------------------------------

STARTS_AT = "2026-11-30T19:00:00Z"


def _fingerprint() -> str:
    return uuid.uuid4().hex[:16]


def _alert(alertname: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing", "labels": {"alertname": alertname, **labels}, "annotations": {}, "startsAt": STARTS_AT,
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint,
    }  # fmt: skip


def _alertmanager(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "ops",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
            "alerts": alerts,
        }
    ).encode()  # fmt: skip


def _grafana(alert: dict[str, Any]) -> bytes:
    grafana_alert = alert | {
        "silenceURL": "", "dashboardURL": "", "panelURL": "", "values": {"A": 1.0}, "valueString": "[ var='A' ]",
    }  # fmt: skip
    return json.dumps(
        {
            "version": "1", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "ops",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:3000/",
            "orgId": 1, "state": "alerting", "title": "[FIRING:1]", "message": "", "alerts": [grafana_alert],
        }
    ).encode()  # fmt: skip


def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def _remediations(plane: LocalPlane, seen: int) -> list[Execution]:
    """The remediation executions started since ``seen`` were counted, each waited for, oldest first."""
    plane.wait_idle()
    runs = plane.executions("remediation")
    return [plane.wait(run["executionArn"], "remediation") for run in reversed(runs[: len(runs) - seen])]


def test_duplicate_webhooks_start_one_remediation(plane: LocalPlane) -> None:
    """Alertmanager delivers one alert five times (four at once, then a re-send), and Step Functions loses its answer
    to the first StartExecution (500 after the start: the SDK retries it; the same name and input start nothing new,
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html). One remediation runs."""
    host = plane.host(SSH)
    host.crash_service("backend")
    before = invariants.snapshot(plane, SSH)
    seen = len(plane.executions("remediation"))
    url, headers = plane.webhook("alertmanager")
    body = _alertmanager([_alert("ServiceDown", _fingerprint(), host=SSH, service="backend")])
    lost = faults.ApiFault("sfn", "StartExecution", "InternalFailure", when="after")
    answers: list[tuple[int, dict[str, Any]]] = []
    with faults.armed(lost):
        threads = [threading.Thread(target=lambda: answers.append(_post(url, headers, body))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answers.append(_post(url, headers, body))
    (remediation,) = _remediations(plane, seen)
    held = invariants.check(plane, before, remediation, end="SUCCEEDED", notification="remediation succeeded")
    assert [status for status, _ in answers] == [202] * 5, answers
    outcomes = sorted(answer["alerts"][0]["outcome"] for _, answer in answers)
    # one delivery decided and started it; the others found its decision (or its in-progress record, when they run in
    # separate execution environments at the same moment, as in Lambda) and answer deduplicated
    assert outcomes == ["deduplicated"] * 4 + ["started"], outcomes
    assert answers[-1][1]["alerts"][0]["outcome"] == "deduplicated", answers[-1]
    assert lost.hits == 1
    assert host.services()["backend"] == "running"
    matrix.record(
        "test_duplicate_webhooks_start_one_remediation",
        fault="one alert delivered 5 times (4 at once), the first StartExecution's answer lost", workflow="remediation",
        state="webhook", transport="ssh", end_state="202 x5: one started, 4 deduplicated; one remediation SUCCEEDED",
        invariants=held,
    )  # fmt: skip


def test_a_webhook_storm_is_held_by_the_rate_limit(plane: LocalPlane) -> None:
    """40 distinct alerts asking the same action of one host in two deliveries (an alert storm): the guard admits
    remediation.max_attempts (3) per window, suppresses the rest with one escalation, and the webhook never answers
    5xx (Alertmanager would re-send all of it). The admitted remediations share the host lock: each acts or gives
    way."""
    host_name = "demo-ssm"
    plane.update_target(host_name, remediation=RemediationSettings().model_dump())
    before = invariants.snapshot(plane, host_name)
    seen = len(plane.executions("remediation"))
    url, headers = plane.webhook("alertmanager")
    alerts = [_alert("BadGateway", _fingerprint(), host=host_name) for _ in range(40)]
    statuses = [_post(url, headers, _alertmanager(alerts[i : i + 20]))[0] for i in (0, 20)]
    runs = _remediations(plane, seen)
    assert statuses == [202, 202]
    assert len(runs) == 3 and all(run.status == "SUCCEEDED" for run in runs), [(r.status, r.error) for r in runs]
    said = ["remediation succeeded" if "Act" in run.state_names() else "remediation deferred" for run in runs]
    held = invariants.check(
        plane, before, runs[0], end="SUCCEEDED", notification=[f"suspended on {host_name}", *said]
    )  # fmt: skip
    assert said.count("remediation succeeded") >= 1
    matrix.record(
        "test_a_webhook_storm_is_held_by_the_rate_limit", fault="40 alerts for one host and action in 2 deliveries",
        workflow="remediation", state="webhook", transport="ssm",
        end_state="202 x2: 3 remediations (each acted or gave way), 37 suppressed, 1 escalation", invariants=held,
    )  # fmt: skip


def test_bad_signatures_and_replays_start_nothing(plane: LocalPlane) -> None:
    """Grafana deliveries with a wrong signature (403), none (401), or a captured one replayed outside the replay
    window (403), and Alertmanager with a wrong token (403), start nothing. The genuine delivery starts one remediation;
    the same delivery replayed within the window is answered from the dedupe record and starts nothing more."""
    host = plane.host(SSH)
    host.crash_service("worker")
    before = invariants.snapshot(plane, SSH)
    seen = len(plane.executions("remediation"))
    url, headers = plane.webhook("grafana")
    body = _grafana(_alert("ServiceDown", _fingerprint(), host=SSH, service="worker"))
    forged = {**headers, **plane.sign_grafana(body.replace(b"worker", b"redis!"))}
    stale = {**headers, **plane.sign_grafana(body, timestamp=int(time.time()) - 3600)}
    am_url, am_headers = plane.webhook("alertmanager")
    refused = [
        _post(url, forged, body)[0], _post(url, headers, body)[0], _post(url, stale, body)[0],
        _post(am_url, {**am_headers, "Authorization": "Bearer forged"}, _alertmanager([]))[0],
    ]  # fmt: skip
    plane.wait_idle()
    assert refused == [403, 401, 403, 403]
    assert len(plane.executions("remediation")) == seen, "nothing started"
    genuine = {**headers, **plane.sign_grafana(body)}
    first = _post(url, genuine, body)
    replayed = _post(url, genuine, body)
    (remediation,) = _remediations(plane, seen)
    held = invariants.check(plane, before, remediation, end="SUCCEEDED", notification="remediation succeeded")
    assert (first[0], first[1]["alerts"][0]["outcome"]) == (202, "started")
    assert (replayed[0], replayed[1]["alerts"][0]["outcome"]) == (202, "deduplicated")
    assert host.services()["worker"] == "running"
    matrix.record(
        "test_bad_signatures_and_replays_start_nothing",
        fault="forged, missing and stale Grafana signatures, a wrong Alertmanager token, a replayed delivery",
        workflow="remediation", state="webhook", transport="ssh",
        end_state="401/403 and nothing started; the genuine delivery one remediation, its replay deduplicated",
        invariants=held,
    )  # fmt: skip
