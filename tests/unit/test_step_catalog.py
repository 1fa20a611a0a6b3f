"""The step catalog (steps/catalog.py) names every host step instance, where it lives, and which move a backup."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import freshtrack_ops.steps
from freshtrack_ops.steps import catalog, registry
from freshtrack_ops.steps.base import DataStep, HostStep
from freshtrack_ops.steps.catalog import DATA_STEPS, STEPS, WHERE, StepCatalog


def _defined_steps() -> dict[str, tuple[str, str, HostStep[Any, Any, Any]]]:
    """Every step instance at the top level of a module of freshtrack_ops.steps: name -> (module, attribute, step)."""
    found: dict[str, tuple[str, str, HostStep[Any, Any, Any]]] = {}
    for info in pkgutil.iter_modules(freshtrack_ops.steps.__path__):
        module = importlib.import_module(f"freshtrack_ops.steps.{info.name}")
        for attribute, value in vars(module).items():
            if isinstance(value, HostStep) and value.__class__.__module__ == module.__name__:
                assert value.name not in found, f"two instances of step {value.name!r}"
                found[value.name] = (info.name, attribute, value)
    return found


def test_the_catalog_names_every_step_instance_where_it_is_defined() -> None:
    defined = _defined_steps()
    assert {name: (module, attribute) for name, (module, attribute, _) in defined.items()} == WHERE
    assert all(STEPS[name] is step for name, (_, _, step) in defined.items())


def test_data_steps_are_exactly_the_data_step_instances() -> None:
    data = {name for name, (_, _, step) in _defined_steps().items() if isinstance(step, DataStep)}
    assert set(catalog.DATA_STEP_NAMES) == data == set(DATA_STEPS)
    assert all(DATA_STEPS[name] is STEPS[name] for name in data)


def test_the_registry_is_the_catalog_with_every_step_imported() -> None:
    assert registry.STEPS is STEPS and registry.DATA_STEPS is DATA_STEPS
    assert registry.DUMP is STEPS["dump"] and registry.JOB_POLL is STEPS["job-poll"]
    assert list(STEPS) == list(WHERE)  # the registry's order, kept for the docs' tables


def test_the_catalog_behaves_like_a_dict_of_steps() -> None:
    steps: StepCatalog[Any] = StepCatalog(("dump", "verify"))
    assert list(steps) == ["dump", "verify"] and len(steps) == 2 and "dump" in steps and "deploy" not in steps
    assert steps.get("deploy") is None
    with pytest.raises(KeyError):
        steps["deploy"]
    extra = object()
    steps["extra"] = extra
    assert steps["extra"] is extra and len(steps) == 3 and list(steps)[-1] == "extra"
    del steps["extra"]
    assert "extra" not in steps and len(steps) == 2
    del steps["verify"]
    assert list(steps) == ["dump"]
    with pytest.raises(KeyError):
        del steps["verify"]
    assert dict(steps) == {"dump": STEPS["dump"]}


def test_every_function_description_fits_lambda() -> None:
    """Lambda refuses a function description over 256 characters (CreateFunction's Description: "Length
    Constraints: Minimum length of 0. Maximum length of 256."); CDK says so only at synth."""
    from freshtrack_ops.tasks import TASKS

    too_long = {name: len(task.description) for name, task in TASKS.items() if len(task.description) > 256}
    assert too_long == {}
