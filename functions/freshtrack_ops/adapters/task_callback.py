"""Completing a workflow task that waits with a task token (``lambda:invoke.waitForTaskToken``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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
        self._sfn.send_task_failure(taskToken=token, error=error_name(exc), cause=str(exc)[:MAX_CAUSE_CHARS])
