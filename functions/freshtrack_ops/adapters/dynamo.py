"""LockTable and Catalog on one DynamoDB table (pk/sk), conditional writes for the host lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from freshtrack_ops.errors import LockHeld

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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
                raise
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
            raise
        return True


class DynamoCatalog:
    """Catalog items: pk HOST#<host>, sk BACKUP#<finished-at>#<id>, newest last when sorted."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def record_backup(self, manifest_json: str, *, host: str, backup_id: str, finished_at: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"HOST#{host}"},
                "sk": {"S": f"BACKUP#{finished_at}#{backup_id}"},
                "backup_id": {"S": backup_id},
                "manifest": {"S": manifest_json},
            },
        )
