"""LockTable and Catalog on one DynamoDB table (pk/sk), conditional writes for the host lock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from botocore.exceptions import ClientError

from freshtrack_ops.errors import LockHeld, LockStoreUnavailable
from freshtrack_ops.ports import CatalogEntry, FleetHalt

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from freshtrack_ops.models import AsideRecord, LeftoverRecord
    from freshtrack_ops.update.models import DeploymentOutcome


#: DynamoDB's answers that a later attempt may not get (throttling, a server fault), per "Error handling with DynamoDB"
#: (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html): the SDK retries them
#: (standard mode: 4 attempts in all); what is left after that is the lock states' to retry (LockStoreUnavailable)
TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError",
    "ServiceUnavailable",
})  # fmt: skip


def _raise_lock_write_error(exc: ClientError, host: str, write: str) -> NoReturn:
    """A lock write's error that is not the condition's: LockStoreUnavailable when a later attempt may succeed."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code in TRANSIENT_CODES:
        message = f"host {host!r}: the lock {write} still answered {code} after the SDK's attempts"
        raise LockStoreUnavailable(message) from exc
    raise exc


def lock_key(host: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"LOCK#{host}"}, "sk": {"S": "LOCK"}}


class DynamoLockTable:
    """One lock per host: a conditional put succeeds only if the lock is free, expired, or already ours."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def acquire(self, host: str, owner: str, lease_seconds: int, purpose: str) -> int:
        now = int(self._clock())
        expires_at = now + lease_seconds
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **lock_key(host),
                    "owner": {"S": owner},
                    "purpose": {"S": purpose},
                    "acquired_at": {"N": str(now)},
                    "expires_at": {"N": str(expires_at)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                _raise_lock_write_error(exc, host, "acquire")
            holder = self._holder(host)
            raise LockHeld(f"host {host!r} is locked by {holder}") from exc
        return expires_at

    def _holder(self, host: str) -> str:
        item = self._client.get_item(TableName=self._table, Key=lock_key(host), ConsistentRead=True).get("Item")
        if not item:
            return "another execution (released since)"
        owner = item.get("owner", {}).get("S", "?")
        purpose = item.get("purpose", {}).get("S", "")
        expires = item.get("expires_at", {}).get("N", "?")
        return f"{owner} ({purpose or 'unknown purpose'}, lease until epoch {expires})"

    def holder(self, host: str) -> tuple[str, str] | None:
        item = self._client.get_item(TableName=self._table, Key=lock_key(host), ConsistentRead=True).get("Item")
        if not item:
            return None
        return item.get("owner", {}).get("S", ""), item.get("purpose", {}).get("S", "")

    def release(self, host: str, owner: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=lock_key(host),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            _raise_lock_write_error(exc, host, "release")
        return True


class DynamoCatalog:
    """Catalog items: pk ``HOST#<host>``, sk ``BACKUP#<finished-at ISO>#<id>`` (sorts oldest to newest).

    Attributes: backup_id, dump_key, manifest_key, size_bytes, finished_at, verification_status
    (unverified | passed | failed), verified_at, manifest (the manifest JSON as written to S3), dump_rate_mb_s
    (when known: what the next backup's data path is planned with).
    """

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def record_backup(self, entry: CatalogEntry, manifest_json: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"HOST#{entry.host}"},
                "sk": {"S": entry.sort_key},
                "backup_id": {"S": entry.backup_id},
                "dump_key": {"S": entry.dump_key},
                "manifest_key": {"S": entry.manifest_key},
                "size_bytes": {"N": str(entry.size_bytes)},
                "finished_at": {"S": entry.finished_at},
                "verification_status": {"S": entry.verification_status},
                "verified_at": {"S": entry.verified_at or ""},
                "manifest": {"S": manifest_json},
                **({"dump_rate_mb_s": {"N": str(entry.dump_rate_mb_s)}} if entry.dump_rate_mb_s else {}),
            },
        )

    def set_verification(self, entry: CatalogEntry, status: str, verified_at: str, manifest_json: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"HOST#{entry.host}"}, "sk": {"S": entry.sort_key}},
            UpdateExpression="SET verification_status = :s, verified_at = :t, manifest = :m",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": verified_at}, ":m": {"S": manifest_json}},
        )

    def list_backups(self, host: str) -> list[CatalogEntry]:
        """Every catalogued backup of ``host``, newest first."""
        return [entry for entry, _ in self.list_backups_with_manifests(host)]

    def list_backups_with_manifests(self, host: str) -> list[tuple[CatalogEntry, dict[str, Any]]]:
        """Every catalogued backup of ``host`` with its manifest (as stored with it), newest first."""
        entries: list[tuple[CatalogEntry, dict[str, Any]]] = []
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": "BACKUP#"}},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                entry = CatalogEntry(
                    host=host,
                    backup_id=item["backup_id"]["S"],
                    dump_key=item["dump_key"]["S"],
                    manifest_key=item["manifest_key"]["S"],
                    size_bytes=int(item["size_bytes"]["N"]),
                    finished_at=item["finished_at"]["S"],
                    verification_status=item["verification_status"]["S"],
                    verified_at=item.get("verified_at", {}).get("S") or None,
                    dump_rate_mb_s=float(item["dump_rate_mb_s"]["N"]) if "dump_rate_mb_s" in item else None,
                )
                manifest = json.loads(item["manifest"]["S"]) if "manifest" in item else {}
                entries.append((entry, manifest if isinstance(manifest, dict) else {}))
        return entries

    def forget(self, entry: CatalogEntry) -> None:
        self._client.delete_item(
            TableName=self._table,
            Key={"pk": {"S": f"HOST#{entry.host}"}, "sk": {"S": entry.sort_key}},
        )


class DynamoDeploymentHistory:
    """Deployment items: pk ``HOST#<host>``, sk ``DEPLOY#<recorded at ISO>#<update id>`` (next to the host's
    backups in the catalog), the outcome as JSON."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def record_deployment(self, outcome: DeploymentOutcome) -> None:
        recorded = datetime.fromtimestamp(self._clock(), UTC).isoformat()
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"HOST#{outcome.host}"},
                "sk": {"S": f"DEPLOY#{recorded}#{outcome.update_id}"},
                "outcome": {"S": outcome.model_dump_json()},
            },
        )

    def deployments(self, host: str) -> list[DeploymentOutcome]:
        # the update workflow's model, imported by its readers only: the lock and the catalog share this module
        from freshtrack_ops.update.models import DeploymentOutcome

        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": "DEPLOY#"}},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        return [DeploymentOutcome.model_validate_json(item["outcome"]["S"]) for item in response.get("Items", [])]


_Record = TypeVar("_Record", "AsideRecord", "LeftoverRecord")


class _HostRecords(Generic[_Record]):
    """Records of one kind next to a host's backups: pk ``HOST#<host>``, sk ``<prefix><name>``, the record as JSON
    in attribute ``attribute``; read oldest first (``created_at``)."""

    def __init__(self, client: DynamoDBClient, table: str, model: type[_Record], prefix: str, attribute: str) -> None:
        self._client = client
        self._table = table
        self._model: type[_Record] = model
        self._prefix = prefix
        self._attribute = attribute

    def _key(self, host: str, name: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"HOST#{host}"}, "sk": {"S": f"{self._prefix}{name}"}}

    def put(self, record: _Record) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={**self._key(record.host, record.name), self._attribute: {"S": record.model_dump_json()}},
        )

    def all(self, host: str) -> list[_Record]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"HOST#{host}"}, ":prefix": {"S": self._prefix}},
            ConsistentRead=True,
        )
        records = [self._model.model_validate_json(item[self._attribute]["S"]) for item in response.get("Items", [])]
        return sorted(records, key=lambda r: r.created_at)

    def forget(self, host: str, name: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(host, name))

    def mark(self, host: str, name: str, note: str) -> None:
        """Keep the record with ``note`` (why it is left for an operator); a missing record stays missing."""
        key = self._key(host, name)
        item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item:
            self.put(self._model.model_validate_json(item[self._attribute]["S"]).model_copy(update={"note": note}))


class DynamoAsideCatalog:
    """Aside databases of restores by swap: pk ``HOST#<host>``, sk ``ASIDE#<name>`` (next to the host's backups),
    the record as JSON (restore/aside.py); and the leftovers handed to the drop-asides run, sk ``LEFTOVER#<name>``
    (restore/leftover.py)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        from freshtrack_ops.models import AsideRecord, LeftoverRecord

        self._asides = _HostRecords(client, table, AsideRecord, "ASIDE#", "aside")
        self._leftovers = _HostRecords(client, table, LeftoverRecord, "LEFTOVER#", "leftover")

    def record_aside(self, record: AsideRecord) -> None:
        self._asides.put(record)

    def asides(self, host: str) -> list[AsideRecord]:
        return self._asides.all(host)

    def forget_aside(self, host: str, name: str) -> None:
        self._asides.forget(host, name)

    def mark_aside(self, host: str, name: str, note: str) -> None:
        self._asides.mark(host, name, note)

    def record_leftover(self, record: LeftoverRecord) -> None:
        self._leftovers.put(record)

    def leftovers(self, host: str) -> list[LeftoverRecord]:
        return self._leftovers.all(host)

    def forget_leftover(self, host: str, name: str) -> None:
        self._leftovers.forget(host, name)

    def mark_leftover(self, host: str, name: str, note: str) -> None:
        self._leftovers.mark(host, name, note)


def fleet_key(execution_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"FLEET#{execution_id}"}, "sk": {"S": "FLEET"}}


class DynamoFleetGate:
    """One item per fleet execution (pk ``FLEET#<execution ARN>``): the hosts it started (``started``, a string
    set) and, once one failed or an operator halted it, ``halted_by``/``halt_reason``/``halted_at``.

    A claim adds the host only while ``halted_by`` does not exist and a halt sets it only while it does not exist,
    both as conditional updates of the same item: DynamoDB applies them one after the other, so a claim either
    precedes the halt (that host runs) or is refused. ``expires_at`` (the table's TTL attribute) lets DynamoDB
    delete the item once no fleet can still be running.
    """

    def __init__(
        self, client: DynamoDBClient, table: str, keep_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table
        self._keep_seconds = keep_seconds
        self._clock = clock

    def claim(self, execution_id: str, host: str) -> FleetHalt | None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=fleet_key(execution_id),
                UpdateExpression="ADD started :host SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(halted_by)",
                ExpressionAttributeValues={":host": {"SS": [host]}, ":expires": self._expires()},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.halted(execution_id) or FleetHalt(by="?", reason="halted", at=0)
        return None

    def halt(self, execution_id: str, by: str, reason: str) -> FleetHalt:
        now = int(self._clock())
        try:
            self._client.update_item(
                TableName=self._table,
                Key=fleet_key(execution_id),
                UpdateExpression=(
                    "SET halted_by = :by, halt_reason = :reason, halted_at = :now, "
                    "expires_at = if_not_exists(expires_at, :expires)"
                ),
                ConditionExpression="attribute_not_exists(halted_by)",
                ExpressionAttributeValues={
                    ":by": {"S": by},
                    ":reason": {"S": reason},
                    ":now": {"N": str(now)},
                    ":expires": self._expires(),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.halted(execution_id) or FleetHalt(by=by, reason=reason, at=now)
        return FleetHalt(by=by, reason=reason, at=now)

    def halted(self, execution_id: str) -> FleetHalt | None:
        item = self._client.get_item(TableName=self._table, Key=fleet_key(execution_id), ConsistentRead=True).get(
            "Item"
        )
        if not item or "halted_by" not in item:
            return None
        return FleetHalt(
            by=item["halted_by"]["S"],
            reason=item.get("halt_reason", {}).get("S", ""),
            at=int(item.get("halted_at", {}).get("N", "0")),
        )

    def started(self, execution_id: str) -> list[str]:
        """The hosts claimed so far (for tests and operators)."""
        item = self._client.get_item(TableName=self._table, Key=fleet_key(execution_id), ConsistentRead=True).get(
            "Item"
        )
        return sorted((item or {}).get("started", {}).get("SS", []))

    def _expires(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + self._keep_seconds)}
