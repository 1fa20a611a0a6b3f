"""Every host step by name, each imported when it is first asked for.

A task that needs one step by name (the SSM completion, a host job's poll, the undo of an ended execution) loads
that step's module only, not the step modules of every workflow with their models and host-script readers (cold
starts: a host job of a backup never needs the update or disaster-recovery steps). A handler of named steps
imports them from their own module (``freshtrack_ops.steps.backup``...); ``freshtrack_ops.steps.registry`` imports
them all (tests, the docs' state map).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from freshtrack_ops.steps.base import AnyStep, DataStep

_PACKAGE = "freshtrack_ops.steps"
#: step name -> (module under freshtrack_ops.steps, the instance's name there)
WHERE: dict[str, tuple[str, str]] = {
    "preflight": ("backup", "PREFLIGHT"),
    "dump": ("backup", "DUMP"),
    "verify": ("restore", "VERIFY"),
    "load": ("restore", "LOAD"),
    "database": ("restore", "DATABASE"),
    "counts": ("restore", "COUNTS"),
    "services": ("restore", "SERVICES"),
    "health": ("restore", "HEALTH"),
    "job-poll": ("job_poll", "JOB_POLL"),
    "update-preflight": ("update", "UPDATE_PREFLIGHT"),
    "schema": ("update", "SCHEMA"),
    "checkout": ("update", "CHECKOUT"),
    "deploy": ("update", "DEPLOY"),
    "verify-deployment": ("update", "VERIFY_DEPLOYMENT"),
    "down": ("update", "DOWN"),
    "images": ("update", "IMAGES"),
    "pin-images": ("update", "PIN_IMAGES"),
    "dr-capture-config": ("dr", "DR_CAPTURE_CONFIG"),
    "dr-bootstrap": ("dr", "DR_BOOTSTRAP"),
    "remediation-act": ("remediation", "REMEDIATION_ACT"),
    "remediation-check": ("remediation", "REMEDIATION_CHECK"),
    "daily-collect": ("daily", "DAILY_COLLECT"),
    "service-act": ("service", "SERVICE_ACT"),
    "db-pool": ("maintenance", "DB_POOL"),
    "rotate-secrets": ("maintenance", "ROTATE_SECRETS"),
    "os-upgrade": ("maintenance_os", "OS_UPGRADE"),
    "os-reboot": ("maintenance_os", "OS_REBOOT"),
    "host-probe": ("maintenance_os", "HOST_PROBE"),
}
#: the steps that move a whole backup and may run as a host job (``DataStep``)
DATA_STEP_NAMES = ("dump", "verify", "load", "deploy")

StepT = TypeVar("StepT", bound=AnyStep)


class StepCatalog(MutableMapping[str, StepT], Generic[StepT]):
    """``name -> step`` like a dict, importing a step's module on its first lookup.

    Iterating gives every name without importing anything; values() and items() import every step module. Setting
    a name adds a step (a test's); deleting one forgets it."""

    def __init__(self, names: tuple[str, ...] | None = None) -> None:
        self._where = {name: WHERE[name] for name in (names if names is not None else tuple(WHERE))}
        self._steps: dict[str, StepT] = {}

    def __getitem__(self, name: str) -> StepT:
        step = self._steps.get(name)
        if step is None:
            module, attribute = self._where[name]  # KeyError: no such step
            step = getattr(importlib.import_module(f"{_PACKAGE}.{module}"), attribute)
            self._steps[name] = step
        return step

    def __setitem__(self, name: str, step: StepT) -> None:
        self._steps[name] = step

    def __delitem__(self, name: str) -> None:
        if name not in self._where and name not in self._steps:
            raise KeyError(name)
        self._where.pop(name, None)
        self._steps.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._steps

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._where, *self._steps]))

    def __len__(self) -> int:
        return len(self._where.keys() | self._steps.keys())


STEPS: StepCatalog[AnyStep] = StepCatalog()
DATA_STEPS: StepCatalog[DataStep[Any, Any, Any]] = StepCatalog(DATA_STEP_NAMES)
