"""Pending SSM commands: which workflow task (task token) waits for which command, kept in the ops table.

A record is written right after ``SendCommand`` and read by the completion handler when EventBridge reports
the command's final status. ``claim`` is a conditional update, so a duplicated event completes a task once.
Records expire by TTL (``expires_at``) if the completion never comes (the state's own timeout fails it).
A second item per command (pk ``EXECUTION#<execution arn>``) lets the lock janitor find and cancel the
commands of an execution that was aborted or timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: records outlive the longest command (1 h execution + delivery) by a day
RECORD_TTL_S = 26 * 3600


@dataclass(frozen=True)
class PendingCommand:
    command_id: str
    instance_id: str
    task_token: str
    step: str
    host: str
    #: the task's input and what the step needs to interpret the result, as JSON (no secrets, no URLs)
    event: str
    context: str = "{}"
    #: the execution whose state waits (empty when the task was invoked outside a workflow)
    execution_id: str = ""
    #: the host exchange object the command's credentials went in (adapters/host_exchange.py; empty: none), deleted
    #: when the command ends
    exchange_key: str = ""


def command_key(command_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"COMMAND#{command_id}"}, "sk": {"S": "COMMAND"}}


def execution_key(execution_id: str, command_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"EXECUTION#{execution_id}"}, "sk": {"S": f"COMMAND#{command_id}"}}


class DynamoPendingCommands:
    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def put(self, pending: PendingCommand) -> None:
        now = int(self._clock())
        self._client.put_item(
            TableName=self._table,
            Item={
                **command_key(pending.command_id),
                "instance_id": {"S": pending.instance_id},
                "task_token": {"S": pending.task_token},
                "step": {"S": pending.step},
                "host": {"S": pending.host},
                "event": {"S": pending.event},
                "context": {"S": pending.context},
                "execution_id": {"S": pending.execution_id},
                "exchange_key": {"S": pending.exchange_key},
                "sent_at": {"N": str(now)},
                "expires_at": {"N": str(now + RECORD_TTL_S)},
            },
        )
        if pending.execution_id:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **execution_key(pending.execution_id, pending.command_id),
                    "instance_id": {"S": pending.instance_id},
                    "expires_at": {"N": str(now + RECORD_TTL_S)},
                },
            )

    def of_execution(self, execution_id: str) -> list[tuple[str, str]]:
        """(command id, instance id) of every command still pending for ``execution_id``."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"EXECUTION#{execution_id}"}, ":prefix": {"S": "COMMAND#"}},
            ConsistentRead=True,
        )
        return [
            (item["sk"]["S"].removeprefix("COMMAND#"), item["instance_id"]["S"]) for item in response.get("Items", [])
        ]

    def get(self, command_id: str) -> PendingCommand | None:
        item = self._client.get_item(TableName=self._table, Key=command_key(command_id), ConsistentRead=True).get(
            "Item"
        )
        return _from_item(command_id, item) if item else None

    def claim(self, command_id: str) -> bool:
        """Mark the record handled; False when another delivery of the event got there first (or it is gone)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=command_key(command_id),
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(claimed_at)",
                ExpressionAttributeValues={":now": {"N": str(int(self._clock()))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, pending: PendingCommand) -> None:
        self._client.delete_item(TableName=self._table, Key=command_key(pending.command_id))
        if pending.execution_id:
            self._client.delete_item(TableName=self._table, Key=execution_key(pending.execution_id, pending.command_id))


def _from_item(command_id: str, item: Mapping[str, Any]) -> PendingCommand:
    return PendingCommand(
        command_id=command_id,
        instance_id=item["instance_id"]["S"],
        task_token=item["task_token"]["S"],
        step=item["step"]["S"],
        host=item["host"]["S"],
        event=item["event"]["S"],
        context=item["context"]["S"],
        execution_id=item.get("execution_id", {}).get("S", ""),
        exchange_key=item.get("exchange_key", {}).get("S", ""),
    )
