"""The remediation guard's counters and the audit log on the ops table (pk ``REMEDIATION#<host>``).

Guard items (sk ``GUARD#<action>``) are written with optimistic concurrency: read, decide
(``remediation.guard.decide``), write on condition that the item's ``version`` is still the one read. Two webhook
invocations racing for the last slot of a window cannot both pass, and exactly one of them escalates.
Audit items (sk ``AUDIT#<audit id>``) expire after ``AUDIT_KEEP_S`` (the table's TTL attribute).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from freshtrack_ops.redact import redact
from freshtrack_ops.remediation.guard import Admission, AuditEntry, AuditStatus, GuardState, after_outcome, decide
from freshtrack_ops.remediation.settings import RemediationSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: audit entries are kept this long (the table's TTL attribute deletes them after)
AUDIT_KEEP_S = 90 * 86_400
#: an alert for no known target is audited under this host
NO_HOST = "-"
_RACES = 20
_GUARD_FIELDS = ("window_start", "attempts", "failures", "open_until")


def _pk(host: str | None) -> dict[str, str]:
    return {"S": f"REMEDIATION#{host or NO_HOST}"}


class GuardRaceLost(Exception):
    """Too many concurrent writers on one guard item (retried by the caller's retry policy)."""


class DynamoRemediationGuard:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def admit(self, host: str, action: str, settings: RemediationSettings, now: datetime) -> Admission:
        return self._update(host, action, lambda state, epoch: decide(state, settings, epoch), now, settings)

    def record_outcome(
        self, host: str, action: str, succeeded: bool, settings: RemediationSettings, now: datetime
    ) -> Admission:
        return self._update(
            host, action, lambda state, epoch: after_outcome(state, succeeded, settings, epoch), now, settings
        )

    def _update(
        self,
        host: str,
        action: str,
        step: Callable[[GuardState, int], tuple[Admission, GuardState]],
        now: datetime,
        settings: RemediationSettings,
    ) -> Admission:
        key = {"pk": _pk(host), "sk": {"S": f"GUARD#{action}"}}
        epoch = int(now.timestamp())
        for _ in range(_RACES):
            item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            state, version = _read_state(item)
            admission, new_state = step(state, epoch)
            if new_state == state:
                return admission
            keep_until = max(new_state.window_start + settings.window_s, new_state.open_until) + settings.cooldown_s
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **key,
                        **{name: {"N": str(getattr(new_state, name))} for name in _GUARD_FIELDS},
                        "escalated": {"S": new_state.escalated},
                        "version": {"N": str(version + 1)},
                        "expires_at": {"N": str(keep_until)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR version = :version",
                    ExpressionAttributeValues={":version": {"N": str(version)}},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue  # another invocation wrote first: decide again on what it wrote
            return admission
        raise GuardRaceLost(f"guard {host}/{action}: {_RACES} concurrent writes in a row")


def _read_state(item: dict[str, Any] | None) -> tuple[GuardState, int]:
    if not item:
        return GuardState(), 0
    values = {name: int(item[name]["N"]) for name in _GUARD_FIELDS if name in item}
    state = GuardState(**values, escalated=item.get("escalated", {}).get("S", ""))
    return state, int(item.get("version", {}).get("N", "0"))


def _audit_item(entry: AuditEntry) -> dict[str, Any]:
    body = entry.model_copy(update={"detail": redact(entry.detail)[:1000]}).model_dump_json()
    return {
        "pk": _pk(entry.host),
        "sk": {"S": f"AUDIT#{entry.audit_id}"},
        "entry": {"S": body},
        "expires_at": {"N": str(int(entry.created_at.timestamp()) + AUDIT_KEEP_S)},
    }


class BufferedAudit:
    """The audit log of one webhook delivery: new entries kept until ``flush`` (one batch write); completions go
    straight through (they read the entry first)."""

    def __init__(self, log: DynamoAuditLog) -> None:
        self._log = log
        self._pending: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self._pending.append(entry)

    def complete(
        self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
        execution_arn: str | None = None,
    ) -> None:  # fmt: skip
        self.flush()
        self._log.complete(host, audit_id, status, detail, now=now, execution_arn=execution_arn)

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]:
        self.flush()
        return self._log.entries(host, limit)

    def flush(self) -> None:
        # one entry per key (BatchWriteItem refuses a batch that names an item twice): the last word on it
        pending = list({(e.host, e.audit_id): e for e in self._pending}.values())
        self._pending = []
        if pending:
            self._log.record_many(pending)


class DynamoAuditLog:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, entry: AuditEntry) -> None:
        self._client.put_item(TableName=self._table, Item=_audit_item(entry))

    def record_many(self, entries: list[AuditEntry]) -> None:
        """Several entries in BatchWriteItem calls of 25 (a storm's deliveries write one call, not one per alert);
        what DynamoDB leaves unprocessed is written again."""
        for first in range(0, len(entries), 25):
            requests: list[Any] = [{"PutRequest": {"Item": _audit_item(e)}} for e in entries[first : first + 25]]
            for _ in range(10):
                unprocessed = self._client.batch_write_item(RequestItems={self._table: requests}).get(
                    "UnprocessedItems", {}
                )
                requests = list(unprocessed.get(self._table, []))
                if not requests:
                    break
            if requests:
                raise GuardRaceLost(f"audit: {len(requests)} entries left unprocessed by DynamoDB")

    def complete(
        self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
        execution_arn: str | None = None,
    ) -> None:  # fmt: skip
        """The entry's result; an entry never recorded (e.g. a resolved alert whose firing came before this
        deployment) is recorded now with what is known."""
        key = {"pk": _pk(host), "sk": {"S": f"AUDIT#{audit_id}"}}
        item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item:
            entry = AuditEntry.model_validate_json(item["entry"]["S"])
            # a resolution keeps what the remediation said, whichever comes first (Alertmanager may deliver the
            # resolution while the remediation is still recording): "succeeded: ...; ... resolved at ..."
            if status == "resolved" and entry.status != "resolved":
                detail = f"{entry.status}: {entry.detail}; {detail}"
            elif entry.status == "resolved" and status != "resolved":
                detail, status = f"{status}: {detail}; {entry.detail}", "resolved"
            changes: dict[str, Any] = {"status": status, "detail": detail[:1000], "updated_at": now}
            if execution_arn:
                changes["execution_arn"] = execution_arn
            entry = entry.model_copy(update=changes)
        else:
            entry = AuditEntry(
                audit_id=audit_id, host=host, source=audit_id.split("-", 1)[0], alertname=None, fingerprint=None,
                starts_at=None, status=status, action=None, execution_arn=execution_arn, detail=detail,
                created_at=now, updated_at=now,
            )  # fmt: skip
        self.record(entry)

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """A host's entries (NO_HOST: alerts for no known target), newest first."""
        found: list[AuditEntry] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :audit)",
            "ExpressionAttributeValues": {":pk": _pk(host), ":audit": {"S": "AUDIT#"}},
        }
        while True:
            page = self._client.query(**kwargs)
            found += [AuditEntry.model_validate_json(item["entry"]["S"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found.sort(key=lambda entry: entry.created_at, reverse=True)
        return found[:limit]
