"""Running workflows: start, wait for the end, abort as an operator would, answer an approval."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from freshtrack_ops.adapters.approvals import DynamoApprovalStore
from freshtrack_ops.adapters.task_callback import TaskCallback
from freshtrack_ops.restore.approval import answer_approval
from opsctl.local.events import EventRules
from opsctl.local.execution import FINAL_STATUSES, Execution, read_history
from opsctl.local.names import STATE_MACHINE_PREFIX, TABLE
from opsctl.local.provisioning import Deployment

Client = Callable[[str], Any]


class Runner:
    def __init__(self, client: Client, deployment: Deployment, events: EventRules) -> None:
        self._client = client
        self._deployment = deployment
        self._events = events

    def start_execution(self, workflow: str, execution_input: Mapping[str, Any] | str) -> str:
        body = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
        arn: str = self._client("stepfunctions").start_execution(
            stateMachineArn=self._deployment.state_machine_arn(workflow), name=_execution_name(workflow), input=body
        )["executionArn"]
        return arn

    def start_together(self, workflow: str, inputs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        """One execution of ``workflow`` per input, all started at the same moment: one thread each, released
        together, through one client (a client is thread-safe, the default session that would make one per thread
        is not). Key -> execution ARN."""
        if not inputs:
            return {}
        sfn = self._client("stepfunctions")
        machine = self._deployment.state_machine_arn(workflow)
        ready = threading.Barrier(len(inputs))

        def start(item: tuple[str, Mapping[str, Any]]) -> tuple[str, str]:
            key, execution_input = item
            name, body = _execution_name(workflow), json.dumps(execution_input)
            ready.wait(timeout=60)
            arn: str = sfn.start_execution(stateMachineArn=machine, name=name, input=body)["executionArn"]
            return key, arn

        with ThreadPoolExecutor(max_workers=len(inputs), thread_name_prefix=f"start-{workflow}") as pool:
            return dict(pool.map(start, inputs.items()))

    def wait(self, execution_arn: str, workflow: str = "", timeout_s: float = 900.0) -> Execution:
        sfn = self._client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        pause = 0.01
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in FINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {described['status']} after {timeout_s} s")
            # every poll is a moto call in this process: back off so long executions are not slowed down
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
        history = list(read_history(sfn, execution_arn))
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(
            arn=execution_arn,
            workflow=workflow or described.get("stateMachineArn", "").rsplit(f":{STATE_MACHINE_PREFIX}", 1)[-1],
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
            started_at=described.get("startDate"),
            stopped_at=described.get("stopDate"),
        )

    def run(self, workflow: str, execution_input: Mapping[str, Any] | str, timeout_s: float = 900.0) -> Execution:
        """Start an execution and block until it ends."""
        return self.wait(self.start_execution(workflow, execution_input), workflow, timeout_s)

    def abort(self, execution_arn: str) -> dict[str, Any]:
        """Stop an execution as an operator would, then deliver the status-change event EventBridge would
        send to the lock janitor; returns the janitor's result."""
        sfn = self._client("stepfunctions")
        sfn.stop_execution(executionArn=execution_arn, error="Aborted", cause="aborted by an operator")
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after stop_execution")
            time.sleep(0.02)
        return self._events.execution_stopped(execution_arn, described)

    def answer(self, execution_arn: str, *, approve: bool, reason: str = "") -> None:
        """Approve or reject a restore waiting for approval (what `opsctl approve|reject` does)."""
        answer_approval(
            execution_arn,
            approve=approve,
            reason=reason,
            store=DynamoApprovalStore(self._client("dynamodb"), TABLE),
            callbacks=TaskCallback(self._client("stepfunctions")),
        )


def _execution_name(workflow: str) -> str:
    return f"{workflow}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
