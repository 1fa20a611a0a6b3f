"""The inventory's run-time servers (``dr/inventory.py``) and the disaster-recovery history, in the ops table.

Servers: one partition, pk ``SERVERS``, so ``runtime.targets()`` reads all of them with one Query (the
``targets`` grant allows exactly that partition: ``dynamodb:LeadingKeys``); sk ``REPLACEMENT#<id>``,
``PROMOTED#<host>``, ``RETIRED#<server>``. A replacement expires by TTL after ``REPLACEMENT_TTL_S``: a drill that
crashed past every cleanup leaves no id behind for long. History: pk ``DR#<host>``, sk ``<started at>#<dr id>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from freshtrack_ops.dr.inventory import Promotion, Replacement, Retirement, ServerRecords
from freshtrack_ops.dr.models import SERVERS_PARTITION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SERVERS_PK = SERVERS_PARTITION
#: longer than the longest disaster recovery (its lock lease is at most a day)
REPLACEMENT_TTL_S = 2 * 86_400
#: the DR history is kept a year (RTO/RPO trend of monthly drills)
HISTORY_TTL_S = 400 * 86_400


class DynamoServerRegistry:
    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def load(self) -> ServerRecords:
        replacements: list[Replacement] = []
        promotions: list[Promotion] = []
        retirements: list[Retirement] = []
        now = int(self._clock())
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": SERVERS_PK}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                sk, body = item["sk"]["S"], item["body"]["S"]
                if sk.startswith("REPLACEMENT#"):
                    # TTL deletion is lazy (DynamoDB removes expired items within days): an expired one is gone
                    if int(item.get("expires_at", {}).get("N", "0")) > now:
                        replacements.append(Replacement.model_validate_json(body))
                elif sk.startswith("PROMOTED#"):
                    promotions.append(Promotion.model_validate_json(body))
                elif sk.startswith("RETIRED#"):
                    retirements.append(Retirement.model_validate_json(body))
        return ServerRecords(
            replacements=tuple(replacements), promotions=tuple(promotions), retirements=tuple(retirements)
        )

    def register(self, replacement: Replacement) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": SERVERS_PK},
                "sk": {"S": f"REPLACEMENT#{replacement.target['id']}"},
                "body": {"S": replacement.model_dump_json()},
                "expires_at": {"N": str(int(self._clock()) + REPLACEMENT_TTL_S)},
            },
        )

    def forget(self, replacement_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key={"pk": {"S": SERVERS_PK}, "sk": {"S": f"REPLACEMENT#{replacement_id}"}}
        )

    def promote(self, promotion: Promotion, retirement: Retirement, replacement_id: str) -> None:
        """Promotion, retirement and the end of the replacement's registration: all three or none."""
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": SERVERS_PK},
                            "sk": {"S": f"PROMOTED#{promotion.host}"},
                            "body": {"S": promotion.model_dump_json()},
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": SERVERS_PK},
                            "sk": {"S": f"RETIRED#{retirement.server}"},
                            "body": {"S": retirement.model_dump_json()},
                        },
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": SERVERS_PK}, "sk": {"S": f"REPLACEMENT#{replacement_id}"}},
                    }
                },
            ]
        )

    def record_recovery(self, host: str, started_at: str, dr_id: str, body: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"DR#{host}"},
                "sk": {"S": f"{started_at}#{dr_id}"},
                "body": {"S": body},
                "expires_at": {"N": str(int(self._clock()) + HISTORY_TTL_S)},
            },
        )

    def recoveries(self, host: str) -> list[str]:
        """The host's recorded recoveries and drills (JSON bodies), newest first."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"DR#{host}"}},
            ScanIndexForward=False,
        )
        return [item["body"]["S"] for item in response.get("Items", [])]
