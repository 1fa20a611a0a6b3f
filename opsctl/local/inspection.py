"""What tests and the demo look at: notifications, the ops table's items, backups in the bucket, executions.

DynamoDB items are read through the product's adapters (``lock_key``, ``DynamoApprovalStore``), never rebuilt here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from freshtrack_ops.adapters.approvals import DynamoApprovalStore
from freshtrack_ops.adapters.dynamo import lock_key
from freshtrack_ops.adapters.servers import DynamoServerRegistry
from freshtrack_ops.dr.inventory import ServerRecords
from opsctl.local import moto_patches
from opsctl.local.execution import read_history
from opsctl.local.names import BUCKET, TABLE, function_name
from opsctl.local.provisioning import Deployment

Client = Callable[[str], Any]


class Inspection:
    def __init__(self, client: Client, deployment: Deployment) -> None:
        self._client = client
        self._deployment = deployment
        self._notifications: list[dict[str, Any]] = []

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification published so far: {"Subject": ..., "Message": ...}."""
        sqs = self._client("sqs")
        queue_url = self._deployment.queue_url
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                envelope = json.loads(message["Body"])
                self._notifications.append({"Subject": envelope.get("Subject"), "Message": envelope.get("Message")})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._notifications)

    def pending_approval(self, execution_arn: str) -> bool:
        """Whether a restore's approval request is stored (waiting for an answer)."""
        return DynamoApprovalStore(self._client("dynamodb"), TABLE).get(execution_arn) is not None

    def lock_item(self, host: str) -> dict[str, Any] | None:
        """The host lock's item as stored (None when the host is not locked)."""
        item: dict[str, Any] | None = self._client("dynamodb").get_item(TableName=TABLE, Key=lock_key(host)).get("Item")
        return item

    def dr_history(self, host: str) -> list[dict[str, Any]]:
        """The host's recorded disaster recoveries and drills (RTO, RPO, phases, outcome), newest first."""
        registry = DynamoServerRegistry(self._client("dynamodb"), TABLE)
        return [json.loads(body) for body in registry.recoveries(host)]

    def servers(self) -> ServerRecords:
        """The inventory's run-time servers: replacements being bootstrapped, promotions, retirements."""
        return DynamoServerRegistry(self._client("dynamodb"), TABLE).load()

    def manifest(self, manifest_key: str) -> dict[str, Any]:
        body = self._client("s3").get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()
        manifest: dict[str, Any] = json.loads(body)
        return manifest

    def incomplete_uploads(self) -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = self._client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        return uploads

    def object_keys(self, prefix: str = "backups/") -> list[str]:
        response = self._client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [obj["Key"] for obj in response.get("Contents", [])]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events so far (it may still be running)."""
        return list(read_history(self._client("stepfunctions"), execution_arn))

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        """Every execution of a workflow so far (newest first), as list_executions reports them."""
        found: list[dict[str, Any]] = self._client("stepfunctions").list_executions(
            stateMachineArn=self._deployment.state_machine_arn(workflow)
        )["executions"]
        return found

    @staticmethod
    def finished_invocations(task: str) -> int:
        """How many invocations of the task's Lambda (a ``TASKS`` name) have ended so far."""
        return sum(1 for name, _, _ in moto_patches.STATE.invocations if name == function_name(task))
