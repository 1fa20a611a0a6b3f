"""Static checks of the update-fleet ASL: what keeps a running nested update from being stopped half-way, and what
ties the ASL to the code's constants and to the update workflow's input."""

from __future__ import annotations

import json
from typing import Any

import state_machines
from freshtrack_ops.fleet.models import CHILD_TIMEOUT_S, FLEET_TIMEOUT_S, UPDATE_TIMEOUT_S, ChildUpdate
from freshtrack_ops.update.models import UpdateRequest

FLEET = json.loads(state_machines.asl_text("update-fleet"))
MAPS = {name: state for name, state in FLEET["States"].items() if state["Type"] == "Map"}


def _iteration_states() -> dict[str, dict[str, Any]]:
    return {name: state for m in MAPS.values() for name, state in m["ItemProcessor"]["States"].items()}


def test_the_timeouts_are_the_codes() -> None:
    assert json.loads(state_machines.asl_text("update"))["TimeoutSeconds"] == UPDATE_TIMEOUT_S
    assert FLEET["TimeoutSeconds"] == FLEET_TIMEOUT_S
    nested = [s for s in _iteration_states().values() if s.get("Resource", "").startswith("arn:aws:states:::states:")]
    assert len(nested) == 2
    assert all(s["TimeoutSeconds"] == CHILD_TIMEOUT_S > UPDATE_TIMEOUT_S for s in nested), (
        "the nested update times out by itself (and its janitor runs) before the fleet stops waiting for it"
    )


def test_an_iteration_never_fails() -> None:
    """A failed iteration fails its Map, and Step Functions then stops the other iterations, and with them the
    updates they wait for, wherever those are: every state of an iteration catches everything itself, none is a
    Fail state, and the Maps are never retried (a retry would start the hosts' updates again)."""
    for name, state in _iteration_states().items():
        assert state["Type"] != "Fail", name
        if state["Type"] == "Task":
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), f"{name} may fail"
    for name, state in MAPS.items():
        assert "Retry" not in state, name
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}, name


def test_the_canary_and_the_waves_run_the_same_iteration() -> None:
    canary, waves = (
        json.dumps(MAPS[m]["ItemProcessor"]).replace(p, "") for m, p in (("Canary", "Canary"), ("Rollout", "Wave"))
    )
    assert canary == waves
    assert MAPS["Canary"]["MaxConcurrency"] == 1
    assert MAPS["Rollout"]["MaxConcurrencyPath"] == "$.plan.max_concurrency"


def test_the_nested_input_is_the_update_workflows_input_and_nothing_else() -> None:
    for state in _iteration_states().values():
        if state.get("Resource") == "arn:aws:states:::states:startExecution.sync:2":
            fields = {key.removesuffix(".$") for key in state["Parameters"]["Input"]}
            assert fields == set(ChildUpdate.model_fields) | {"host"}
            assert fields <= set(UpdateRequest.model_fields)
            assert state["Parameters"]["StateMachineArn"] == "${UpdateStateMachineArn}"
            assert state["Parameters"]["Name.$"] == "$.member.execution_name", "named: a retried start is idempotent"


def test_the_fleet_starts_only_the_update_workflow() -> None:
    assert state_machines.started_workflows("update-fleet") == ["update"]
