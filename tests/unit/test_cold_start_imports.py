"""Cold starts (issue 15): each Lambda handler module, imported in a fresh interpreter the way a deployed function
imports it (bench/startup.py's environment: Lambda's variables, tracing active), loads only what its own tasks
need. These tests read ``sys.modules``; the times are bench/startup.py's to measure and report, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from importlib import import_module

import pytest

from bench.startup import AWS_FLOOR_MODULE, FLOOR_MODULE, handler_modules, lambda_env
from freshtrack_ops.tasks import TASKS

#: what the asset ships besides freshtrack_ops that a handler module may load while it is imported: Powertools and
#: the X-Ray SDK it traces with (the Tracer patches botocore), pydantic, and boto3 where a module builds clients
MAY_LOAD = frozenset(
    {
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "wrapt",
        "botocore",
        "urllib3",
        "jmespath",
        "dateutil",
        "six",
        "certifi",
        "boto3",
        "s3transfer",
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_extensions",
        "typing_inspection",
    }
)
#: never at import: the SSH adapter and its stack (an SshRunner is built per invocation, for SSH targets only),
#: what the Tracer's default patch_all would import (sqlite3; requests and psycopg where installed), what only runs
#: at deployment time, and the module that imports every workflow's steps
NEVER = frozenset(
    {
        "paramiko",
        "cryptography",
        "nacl",
        "bcrypt",
        "invoke",
        "freshtrack_ops.adapters.ssh",
        "sqlite3",
        "requests",
        "psycopg",
        "psycopg2",
        "yaml",
        "aws_cdk",
        "moto",
        "freshtrack_ops.steps.registry",
    }
)
#: the workflows whose packages a handler module may load besides its own (their ``settings`` modules are the
#: configuration's, loaded by every module): a plan that takes a backup first, a shared audit log, a recovery that
#: restores; anything else is a cold start paid for another workflow
WORKFLOWS = frozenset(
    {"backup", "restore", "update", "dr", "fleet", "maintenance", "remediation", "service", "daily", "retention"}
)
OTHER_WORKFLOWS: dict[str, frozenset[str]] = {
    "alerts": frozenset({"remediation"}),
    "backup": frozenset({"retention"}),  # retention.tags: the object tags a backup's upload sets
    "daily": frozenset({"retention"}),
    "dr": frozenset({"restore"}),
    "dr_host": frozenset({"retention"}),
    "fleet": frozenset({"backup", "update"}),
    "maintenance": frozenset({"backup", "remediation"}),
    "restore": frozenset({"backup"}),
    "restore_swap": frozenset({"restore", "backup"}),  # the restore's swap decision and aside catalog
    "rollback": frozenset({"backup", "restore", "update"}),
    "scale": frozenset({"maintenance"}),
    "service": frozenset({"remediation"}),
    "service_host": frozenset({"remediation"}),
    "update": frozenset({"backup"}),
}
#: the step modules every host task needs (the step base class, its metrics, the by-name lookup)
STEP_COMMON = frozenset({"base", "metrics", "catalog"})
_PROBE = "import json, sys\n{imports}print(json.dumps(sorted(sys.modules)))\n"


@cache
def loaded_by(code: str) -> frozenset[str]:
    """The modules a fresh interpreter holds after ``code`` (the Lambda environment of bench/startup.py)."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(imports=code)],
        capture_output=True,
        text=True,
        env=lambda_env(),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return frozenset(json.loads(proc.stdout.strip().splitlines()[-1]))


def _packages(modules: frozenset[str]) -> set[str]:
    """Top-level packages outside the standard library and our own (site's ``_``-prefixed hooks left out)."""
    tops = {name.split(".", 1)[0] for name in modules}
    return {top for top in tops if not top.startswith("_")} - set(sys.stdlib_module_names) - {"freshtrack_ops"}


def _own_steps(module: str) -> set[str]:
    """The step modules of the host steps whose handlers ``module`` defines (``host_handler``'s ``host_step``)."""
    imported = import_module(module)
    steps = set()
    for task in TASKS.values():
        owner, function = task.handler.rsplit(".", 1)
        step = getattr(getattr(imported, function), "host_step", None) if owner == module else None
        if step is not None:
            steps.add(type(step).__module__.rsplit(".", 1)[1])
    return steps


MODULES = sorted(handler_modules())
#: imported here, while collecting: importing the Tracer's recorder opens its UDP socket, which a test may not
OWN_STEPS = {module: _own_steps(module) for module in MODULES}


@pytest.mark.parametrize("module", MODULES)
def test_a_handler_module_loads_only_what_its_tasks_need(module: str) -> None:
    loaded = loaded_by(f"import {module}\n")
    assert _packages(loaded) <= MAY_LOAD, f"{module} loads {sorted(_packages(loaded) - MAY_LOAD)}"
    never = {name for name in loaded if name in NEVER or name.split(".", 1)[0] in NEVER}
    assert not never, f"{module} loads {sorted(never)}"
    short = module.rsplit(".", 1)[1]
    steps = {name.split(".")[2] for name in loaded if name.startswith("freshtrack_ops.steps.")}
    assert steps - STEP_COMMON <= OWN_STEPS[module], f"{module} loads the steps of {sorted(steps - STEP_COMMON)}"
    workflows = {
        parts[1]
        for parts in (name.split(".") for name in loaded if name.startswith("freshtrack_ops."))
        if len(parts) > 2 and parts[1] in WORKFLOWS and parts[2] != "settings"
    }
    allowed = OTHER_WORKFLOWS.get(short, frozenset()) | {short.removesuffix("_host")}
    assert workflows <= allowed, f"{module} loads the workflow packages {sorted(workflows - allowed)}"
    # a module that can make AWS calls (its clients come from runtime) has them traced from its import on
    assert (AWS_FLOOR_MODULE in loaded) == ("aws_xray_sdk.ext.botocore.patch" in loaded)


def test_a_handler_that_makes_no_aws_call_loads_no_client_machinery() -> None:
    """ExplainError names an error and counts it (metrics go to the log): no client, so nothing to patch."""
    loaded = loaded_by("import freshtrack_ops.handlers.outcome\n")
    assert not {AWS_FLOOR_MODULE, "botocore.client", "boto3", "aws_xray_sdk.ext.botocore.patch"} & loaded


def test_the_tracer_patches_botocore_only_and_loads_nothing_else_to_patch() -> None:
    assert not {name for name in loaded_by(f"import {FLOOR_MODULE}\n") if name.startswith("aws_xray_sdk.ext.")}
    loaded = loaded_by(f"import {AWS_FLOOR_MODULE}\n")
    patches = {name for name in loaded if name.startswith("aws_xray_sdk.ext.") and name.endswith(".patch")}
    assert patches == {"aws_xray_sdk.ext.botocore.patch"}
    # the SDK in its Lambda mode: the local sampler, not the centralized one with its two botocore clients
    assert "aws_xray_sdk.core.sampling.local.sampler" in loaded
    assert "aws_xray_sdk.core.sampling.sampler" not in loaded


def test_a_step_looked_up_by_name_loads_its_own_module_only() -> None:
    listed = loaded_by("from freshtrack_ops.steps.catalog import STEPS\nlist(STEPS)\n")
    assert {name for name in listed if name.startswith("freshtrack_ops.steps.")} == {
        "freshtrack_ops.steps.base",
        "freshtrack_ops.steps.catalog",
        "freshtrack_ops.steps.metrics",
    }
    dump = loaded_by("from freshtrack_ops.steps.catalog import STEPS\nSTEPS['dump']\n")
    assert "freshtrack_ops.steps.backup" in dump
    assert not {f"freshtrack_ops.steps.{m}" for m in ("update", "restore", "dr", "maintenance_os")} & dump


def test_the_host_lock_and_its_table_load_no_workflow_models() -> None:
    """HostLock runs twice in every mutating workflow (acquire, release): neither its module nor the lock table's
    adapter, which its first invocation imports (runtime.lock_table), needs a workflow's models."""
    loaded = loaded_by("import freshtrack_ops.handlers.lock\nimport freshtrack_ops.adapters.dynamo\n")
    assert "freshtrack_ops.models" not in loaded
    assert not {name for name in loaded if name.startswith(("freshtrack_ops.update.", "freshtrack_ops.backup."))}
