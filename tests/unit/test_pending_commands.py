"""Pending SSM commands in the ops table (moto's DynamoDB), and the janitor cancelling an ended execution's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from freshtrack_ops.adapters.pending import DynamoPendingCommands, PendingCommand
from freshtrack_ops.lock_janitor import ExecutionEnded, cancel_pending_commands
from opsctl.local.ops_table import create_ops_table

TABLE = "ops"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:backup:run-1"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ops_table(client, TABLE)
        yield client


def _pending(command_id: str, execution_id: str = EXECUTION) -> PendingCommand:
    return PendingCommand(
        command_id=command_id,
        instance_id="mi-0123456789abcdef0",
        task_token="token",
        step="dump",
        host="demo-ssm",
        event='{"plan": {}}',
        context='{"part_size": 8388608, "upload_id": "u-1"}',
        execution_id=execution_id,
    )


def test_a_record_round_trips_and_is_claimed_once(dynamodb: Any) -> None:
    table = DynamoPendingCommands(dynamodb, TABLE, clock=lambda: 1_000)
    table.put(_pending("c-1"))
    assert table.get("c-1") == _pending("c-1")
    assert table.claim("c-1") is True
    assert table.claim("c-1") is False, "a second delivery of the event gets nothing"
    assert table.claim("c-unknown") is False
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "COMMAND#c-1"}, "sk": {"S": "COMMAND"}})["Item"]
    assert int(item["expires_at"]["N"]) > 1_000, "records expire by TTL"


def test_the_commands_of_an_execution_are_found_until_deleted(dynamodb: Any) -> None:
    table = DynamoPendingCommands(dynamodb, TABLE)
    table.put(_pending("c-1"))
    table.put(_pending("c-2"))
    table.put(_pending("c-3", execution_id="arn:aws:states:us-east-1:123456789012:execution:backup:other"))
    assert sorted(table.of_execution(EXECUTION)) == [("c-1", "mi-0123456789abcdef0"), ("c-2", "mi-0123456789abcdef0")]
    table.delete(_pending("c-1"))
    assert table.get("c-1") is None
    assert table.of_execution(EXECUTION) == [("c-2", "mi-0123456789abcdef0")]


@pytest.mark.parametrize(("status", "cancelled"), [("ABORTED", ["c-1"]), ("TIMED_OUT", ["c-1"]), ("FAILED", [])])
def test_the_janitor_cancels_only_what_an_aborted_or_timed_out_execution_left(
    dynamodb: Any, status: str, cancelled: list[str]
) -> None:
    table = DynamoPendingCommands(dynamodb, TABLE)
    table.put(_pending("c-1"))
    calls: list[tuple[str, str]] = []
    detail = ExecutionEnded(executionArn=EXECUTION, status=status)
    result = cancel_pending_commands(detail, table.of_execution, lambda c, i: calls.append((c, i)))
    assert result == cancelled
    assert [c for c, _ in calls] == cancelled
