"""The local Lambda gives a handler module that keeps the request in a global (powertools' event handler resolver) one
request at a time, as Lambda's one-request-per-execution-environment does; other handlers run concurrently."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from opsctl.local import moto_patches


class _Overlap:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.most = 0

    def handler(self, _event: Any, _context: Any) -> dict[str, int]:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.2)
        with self._lock:
            self.active -= 1
        return {"ok": 1}


def _module(name: str, *, resolver: bool) -> _Overlap:
    overlap = _Overlap()
    module = types.ModuleType(name)
    module.handler = overlap.handler  # type: ignore[attr-defined]
    if resolver:
        module.app = APIGatewayHttpResolver()  # type: ignore[attr-defined]
    sys.modules[name] = module
    return overlap


@pytest.fixture
def routes() -> Iterator[dict[str, _Overlap]]:
    overlaps = {
        "stateful": _module("ftops_test_env_stateful", resolver=True),
        "stateless": _module("ftops_test_env_stateless", resolver=False),
    }
    saved = dict(moto_patches.STATE.routes)
    for kind in overlaps:
        moto_patches.STATE.routes[f"fn-{kind}"] = (f"ftops_test_env_{kind}.handler", 256, 30)
    try:
        yield overlaps
    finally:
        moto_patches.STATE.routes.clear()
        moto_patches.STATE.routes.update(saved)
        for kind in overlaps:
            sys.modules.pop(f"ftops_test_env_{kind}", None)
            moto_patches._ONE_AT_A_TIME.pop(f"ftops_test_env_{kind}.handler", None)


def _invoke_four_at_once(function: str) -> list[tuple[bytes, bool]]:
    answers: list[tuple[bytes, bool]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(moto_patches.invoke_in_process(function, function, b"{}")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_handler_module_with_a_resolver_serves_one_request_at_a_time(routes: dict[str, _Overlap]) -> None:
    answers = _invoke_four_at_once("fn-stateful")
    assert answers == [(b'{"ok": 1}', False)] * 4
    assert routes["stateful"].most == 1


def test_other_handlers_run_concurrently(routes: dict[str, _Overlap]) -> None:
    answers = _invoke_four_at_once("fn-stateless")
    assert answers == [(b'{"ok": 1}', False)] * 4
    assert routes["stateless"].most == 4


def test_the_wait_for_the_environment_is_not_counted_against_the_timeout(routes: dict[str, _Overlap]) -> None:
    """Four requests of 0.2 s each queue for 0.6 s at most: with a 0.3 s timeout none times out (each ran 0.2 s in
    its own environment's terms)."""
    moto_patches.STATE.routes["fn-stateful"] = ("ftops_test_env_stateful.handler", 256, 0.3)  # type: ignore[assignment]
    answers = _invoke_four_at_once("fn-stateful")
    assert [failed for _, failed in answers] == [False] * 4
