"""Fuzzing every host step's task handler: an input its model refuses runs no command and sends none.

``dispatch`` is what every host task's Lambda runs (SSH, local and SSM alike). For each step of the registry,
hypothesis feeds it near-valid events (the step's own field names with arbitrary JSON values, plus unknown keys):
whatever the model refuses must end as ``InvalidInput`` on the task token, naming a field, with no runner opened,
no target looked up and no SSM command sent (issue 17: "never a command run for a refused input")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from freshtrack_ops import runtime
from freshtrack_ops.config import Target
from freshtrack_ops.handlers import host as host_handlers
from freshtrack_ops.steps.registry import STEPS
from tests.unit.fakes import FakeCallbacks, FakeCommands

TOKEN = "token-" + "x" * 20

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


class Touched:
    """Records whatever a refused input must never reach."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.runners: list[str] = []

    @contextmanager
    def runner(self, target: Target) -> Iterator[Any]:
        self.runners.append(target.id)
        raise AssertionError(f"a runner was opened for {target.id}")
        yield  # pragma: no cover

    def get(self, host: str) -> Target:
        self.targets.append(host)
        raise AssertionError(f"the target {host!r} was looked up")


def _events(step_name: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = sorted(STEPS[step_name].model.model_fields)
    near_valid = st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields)) if fields else st.just({})
    unknown = st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in fields), json_values, max_size=2
    )
    return st.tuples(near_valid, unknown).map(lambda pair: pair[0] | pair[1])


@pytest.mark.parametrize("step_name", sorted(STEPS))
@settings(max_examples=60)  # x 28 steps: about 12 s on 2 cores, in the unit worker
@given(data=st.data())
def test_a_refused_input_runs_no_command_and_fails_the_token_naming_a_field(
    step_name: str, data: st.DataObject
) -> None:
    step = STEPS[step_name]
    event = data.draw(_events(step_name), label="event")
    try:
        step.model.model_validate(event)
    except ValidationError:
        pass
    else:
        return  # an accepted input is the workflow tests' business; here only refusals matter
    touched, callbacks, commands = Touched(), FakeCallbacks(), FakeCommands()
    with pytest.MonkeyPatch.context() as patch:  # per example (a function-scoped fixture would be shared)
        patch.setattr(runtime, "task_callback", lambda: callbacks)
        patch.setattr(runtime, "ssm_commands", lambda: commands)
        patch.setattr(runtime, "targets", lambda: touched)
        patch.setattr(runtime, "runner", touched.runner)
        reply = host_handlers.dispatch(step, {**event, "task_token": TOKEN, "execution_id": "x"})
    assert reply == {"error": "InvalidInput"}
    assert touched.targets == [] and touched.runners == [] and commands.sent == []
    assert callbacks.succeeded == []
    [(token, error, cause)] = callbacks.failed
    assert token == TOKEN and error == "InvalidInput" and ": " in cause and "(got " in cause
