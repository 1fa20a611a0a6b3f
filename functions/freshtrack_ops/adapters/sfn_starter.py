"""Start remediation executions (StartExecution is asynchronous: the execution runs on after the call returns)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from freshtrack_ops.remediation.models import RemediationRequest

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class SfnRemediationStarter:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, name: str, request: RemediationRequest) -> str:
        try:
            return self._client.start_execution(stateMachineArn=self._arn, name=name, input=request.model_dump_json())[
                "executionArn"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # the same name was started before (a re-send the dedupe record no longer remembered): that execution
            # is this alert's remediation; Step Functions refuses a second one for 90 days
            return self._arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
