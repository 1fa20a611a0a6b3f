"""Approval of a destructive restore: the task token is kept in DynamoDB (never in a message or log);
the notification says what will be replaced by what and how to answer."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from freshtrack_ops.errors import BackupNotFound
from freshtrack_ops.models import ApprovalEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient


def approval_key(execution_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"APPROVAL#{execution_id}"}, "sk": {"S": "APPROVAL"}}


def request_approval(
    event: ApprovalEvent, table: str, dynamodb: DynamoDBClient, sns: SNSClient | None, topic_arn: str
) -> str:
    plan = event.plan
    dynamodb.put_item(
        TableName=table,
        Item={
            **approval_key(plan.execution_id),
            "task_token": {"S": event.task_token},
            "host": {"S": plan.host},
            "backup_id": {"S": plan.backup.backup_id},
            "expires_at": {"N": str(int(time.time()) + plan.approval_timeout_s)},
        },
    )
    message = (
        f"APPROVAL NEEDED: restore database {plan.database!r} on host {plan.host!r} from backup "
        f"{plan.backup.backup_id} (s3 key {plan.backup.dump_key}). The current database will be DROPPED and "
        f"replaced; a safety backup {plan.safety.backup_id} is taken first and restored automatically if "
        f"anything fails. Reason: {plan.reason or '(none given)'}.\n"
        f"Approve:  opsctl approve {plan.execution_id}\n"
        f"Reject:   opsctl reject {plan.execution_id} --reason '...'\n"
        f"Without an answer within {plan.approval_timeout_s} s the restore is aborted and nothing is touched."
    )
    if sns is not None and topic_arn:
        sns.publish(TopicArn=topic_arn, Subject="FreshTrack restore needs approval", Message=message)
    return message


def answer_approval(
    execution_id: str, *, approve: bool, reason: str, table: str, dynamodb: DynamoDBClient, sfn: Any
) -> None:
    """Approve or reject a waiting restore (used by ``opsctl approve|reject`` and the local plane)."""
    item = dynamodb.get_item(TableName=table, Key=approval_key(execution_id), ConsistentRead=True).get("Item")
    if not item:
        raise BackupNotFound(f"execution: no pending approval for {execution_id}")
    token = item["task_token"]["S"]
    if approve:
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True, "reason": reason}))
    else:
        sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause=reason or "rejected by an operator")
    dynamodb.delete_item(TableName=table, Key=approval_key(execution_id))
