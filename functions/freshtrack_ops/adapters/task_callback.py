"""Completing a workflow task that waits with a task token (``lambda:invoke.waitForTaskToken``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from freshtrack_ops.redact import redact

#: Step Functions' limits on the error name and cause of SendTaskFailure
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768


def error_name(exc: BaseException) -> str:
    """The ASL error name of ``exc``: its class name, as Lambda reports ``errorType``."""
    return type(exc).__name__[:MAX_ERROR_CHARS]


class TaskCallback:
    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn

    def succeed(self, token: str, output: Mapping[str, Any]) -> None:
        self._sfn.send_task_success(taskToken=token, output=json.dumps(output))

    def fail(self, token: str, exc: BaseException) -> None:
        # redacted before it is cut (a cut could split a URL from its query): the cause is in the history
        cause = redact(str(exc))[:MAX_CAUSE_CHARS]
        self._sfn.send_task_failure(taskToken=token, error=error_name(exc), cause=cause)
