"""Hold one Lambda task of a running execution at its very start until the test lets it go: a workflow kept at an
exact state (to abort it there, or to contend for what it holds) without guessing a delay.

The local plane runs every task's handler in-process (``moto_patches.invoke_in_process`` resolves the handler by its
dotted path at each invocation); within ``lambda_gate`` the first invocation of the task whose event ``when`` accepts
waits before its handler runs. Released, the handler runs as it would have: a Lambda that Step Functions had already
invoked when its execution was aborted still runs to its end (Step Functions does not stop it), and its task token is
closed by then (``SendTask*`` answers ``TaskTimedOut``), which the plane reproduces.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from freshtrack_ops.tasks import TASKS
from opsctl.local import moto_patches
from opsctl.local.names import function_name

#: a gate never released lets its handler go after this long (a failing test must not hang the run)
HOLD_TIMEOUT_S = 120.0
Event = dict[str, Any]


class LambdaGate:
    def __init__(self, task: str, when: Callable[[Event], bool]) -> None:
        self.task = task
        self.when = when
        self.entered = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.event: Event | None = None

    def claim(self, event: Event) -> bool:
        """Whether this invocation is the one held (the first whose event ``when`` accepts)."""
        with self._lock:
            if self.event is not None or not self.when(event):
                return False
            self.event = event
            return True

    def hold(self) -> None:
        self.entered.set()
        self._released.wait(HOLD_TIMEOUT_S)

    def wait_entered(self, timeout_s: float = 60.0) -> None:
        assert self.entered.wait(timeout_s), f"no invocation of {self.task} reached its gate"

    def release(self) -> None:
        self._released.set()


@contextlib.contextmanager
def lambda_gate(task: str, when: Callable[[Event], bool] = lambda _event: True) -> Iterator[LambdaGate]:
    """Within the block, the first invocation of ``task`` (a ``TASKS`` name) whose event ``when`` accepts waits at
    its start until ``release`` (at the latest when the block ends)."""
    gate = LambdaGate(task, when)
    path = TASKS[task].handler
    original = moto_patches.resolve_handler

    def resolve(dotted: str) -> moto_patches.Handler:
        handler = original(dotted)
        if dotted != path:
            return handler

        def gated(event: Any, context: Any) -> Any:
            if isinstance(event, dict) and gate.claim(event):
                gate.hold()
            return handler(event, context)

        return gated

    moto_patches.resolve_handler = resolve
    try:
        yield gate
    finally:
        moto_patches.resolve_handler = original
        gate.release()


@contextlib.contextmanager
def function_timeout(task: str, seconds: int) -> Iterator[None]:
    """Within the block, the Lambda function of ``task`` times out after ``seconds`` (Lambda ends an invocation at
    its function's timeout with Sandbox.Timedout: the local plane enforces the configured timeout, DESIGN 4b), as a
    redeploy with that timeout would."""
    name = function_name(task)
    handler, memory, timeout = moto_patches.STATE.routes[name]
    moto_patches.STATE.routes[name] = (handler, memory, seconds)
    try:
        yield
    finally:
        moto_patches.STATE.routes[name] = (handler, memory, timeout)
