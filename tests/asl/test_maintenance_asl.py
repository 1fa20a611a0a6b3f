"""The maintenance state machines are what state_machines/maintenance_asl.py writes (regenerate: make docs), and the
shape it promises holds: a change is reverted on every failure after it, a failure before it changes nothing."""

from __future__ import annotations

import json

import pytest

import state_machines
from state_machines import maintenance_asl


@pytest.mark.parametrize("workflow", sorted(maintenance_asl.FILES))
def test_the_generated_file_is_current(workflow: str) -> None:
    assert state_machines.asl_text(workflow) == maintenance_asl.render(workflow), "regenerate: make docs"


@pytest.mark.parametrize("workflow", sorted(maintenance_asl.FILES))
def test_every_catch_names_its_stage(workflow: str) -> None:
    """The notification says where it stopped: each catch passes through a Pass naming its state."""
    states = json.loads(state_machines.asl_text(workflow))["States"]
    for name, state in states.items():
        for catch in state.get("Catch", []):
            target = states[catch["Next"]]
            if catch["Next"].endswith("Caught"):
                assert target["Type"] == "Pass" and target["ResultPath"] == "$.stage", name


@pytest.mark.parametrize("workflow", ["db-pool", "rotate-secrets", "os-update"])
def test_refusals_of_the_change_never_revert(workflow: str) -> None:
    """InvalidInput, MaintenanceRefused and RotationPending (and apt's lock timeout) mean nothing changed: the
    before-change path; any other error of the change reverts it. (A scale's refusals are its validator's: EC2 calls
    refuse nothing that would not revert.)"""
    states = json.loads(state_machines.asl_text(workflow))["States"]
    changes = [
        n for n, s in states.items() if any(set(maintenance_asl.NOTHING_CHANGED) <= set(c["ErrorEquals"])
                                            for c in s.get("Catch", []))
    ]  # fmt: skip
    assert changes
    for name in changes:
        catches = states[name]["Catch"]
        assert states[catches[0]["Next"]]["Next"] == "StopBeforeChange", name
        assert catches[-1]["ErrorEquals"] == ["States.ALL"], name
        assert states[catches[-1]["Next"]]["Next"] == "StopBeforeRevert", name
