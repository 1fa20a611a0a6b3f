"""``ApprovalStore`` in the ops table: one item per restore waiting for an answer (pk ``APPROVAL#<execution>``),
expiring by TTL with its approval window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freshtrack_ops.ports import PendingApproval

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def approval_key(execution_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"APPROVAL#{execution_id}"}, "sk": {"S": "APPROVAL"}}


class DynamoApprovalStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, approval: PendingApproval) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **approval_key(approval.execution_id),
                "task_token": {"S": approval.task_token},
                "host": {"S": approval.host},
                "backup_id": {"S": approval.backup_id},
                "expires_at": {"N": str(approval.expires_at)},
            },
        )

    def get(self, execution_id: str) -> PendingApproval | None:
        item = self._client.get_item(TableName=self._table, Key=approval_key(execution_id), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return PendingApproval(
            execution_id=execution_id,
            task_token=item["task_token"]["S"],
            host=item["host"]["S"],
            backup_id=item["backup_id"]["S"],
            expires_at=int(item["expires_at"]["N"]),
        )

    def delete(self, execution_id: str) -> None:
        self._client.delete_item(TableName=self._table, Key=approval_key(execution_id))
