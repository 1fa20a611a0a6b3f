"""The deployed EventBridge rules, locally (moto emits no events and runs no rules).

- "EC2 Command Invocation Status-change Notification" (from ``ssm_executor``) -> HostCommandDone, delivered
  asynchronously and again (a few times) while the Lambda raises, like an asynchronous invocation's retries.
- "Step Functions Execution Status Change" (ABORTED/TIMED_OUT) -> LockJanitor, delivered by ``abort``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from opsctl.local import moto_patches
from opsctl.local.names import SSM_DOCUMENT_PREFIX, function_arn, function_name

#: how often (and after what pause) a completion event is redelivered when the Lambda raises, like
#: Lambda's asynchronous invocation retries (two retries in AWS; a few more here, with short pauses)
EVENT_RETRY_PAUSES_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class EventRules:
    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def command_finished(self, event: dict[str, Any]) -> None:
        """An SSM invocation ended: invoke HostCommandDone in the background (this must not block)."""
        if not str(event["detail"].get("document-name", "")).startswith(SSM_DOCUMENT_PREFIX):
            return
        thread = threading.Thread(target=self._invoke_command_done, args=(event,), daemon=True, name="ssm-event")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait_delivered(self, timeout_s: float) -> None:
        """Wait for the deliveries under way (each up to ``timeout_s``)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)

    def close(self) -> None:
        self.wait_delivered(30)
        with self._lock:
            self._threads.clear()

    @staticmethod
    def _invoke_command_done(event: dict[str, Any]) -> None:
        for pause in (0.0, *EVENT_RETRY_PAUSES_S):
            time.sleep(pause)
            _payload, failed = moto_patches.invoke_in_process(
                function_name("HostCommandDone"), function_arn("HostCommandDone"), json.dumps(event)
            )
            if not failed:
                return

    @staticmethod
    def execution_stopped(execution_arn: str, described: dict[str, Any]) -> dict[str, Any]:
        """An execution ended ABORTED or TIMED_OUT (``described`` by describe_execution): run LockJanitor,
        synchronously; returns its result, raises RuntimeError when it failed."""
        event = {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": described["stateMachineArn"],
                "status": described["status"],
                "input": described.get("input"),
            },
        }
        payload, failed = moto_patches.invoke_in_process(
            function_name("LockJanitor"), function_arn("LockJanitor"), json.dumps(event)
        )
        result: dict[str, Any] = json.loads(payload)
        if failed:
            raise RuntimeError(f"lock janitor failed: {result}")
        return result
