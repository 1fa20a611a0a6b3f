"""The ASL definitions and the one function that fills their ${Placeholders}.

CDK (``definition_substitutions``) and the local plane (text substitution) both call
``substitutions()``, so the deployed and the locally executed state machines are the same text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freshtrack_ops.tasks import TASKS, WORKFLOWS

ASL_DIR = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
TOPIC_PLACEHOLDER = "NotificationTopicArn"

#: The one Retry entry for Lambda's own transient errors (throttling, service faults), copied into every
#: Lambda task of every ASL file (JSON has no way to share it); tests/asl checks each copy against this one.
LAMBDA_SERVICE_RETRY: dict[str, object] = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}

#: The lock states' Retry (after LAMBDA_SERVICE_RETRY) for a lock table still throttling or failing after the SDK's
#: own 4 attempts: 4 more tries over about a minute (5 + 10 + 20 + 40 s, full jitter), so a burst of DynamoDB
#: throttling (e.g. a fleet's backups at the same minute on an on-demand table's new peak) neither fails a workflow
#: before it touched the host nor leaves a lock for its lease when the release is refused. Every HostLock task of
#: every ASL file carries it; tests/asl checks each copy against this one.
LOCK_STORE_RETRY: dict[str, object] = {
    "ErrorEquals": ["LockStoreUnavailable"],
    "IntervalSeconds": 5,
    "MaxAttempts": 4,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}


def asl_path(workflow: str) -> Path:
    return ASL_DIR / WORKFLOWS[workflow].asl_file


def asl_text(workflow: str) -> str:
    return asl_path(workflow).read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def substitutions(
    function_arns: Mapping[str, str], topic_arn: str, state_machine_arns: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Placeholder -> value for every task function, the notification topic and the workflows already created
    (``${RestoreStateMachineArn}``: a workflow that starts another one, e.g. an update's database rollback)."""
    missing = sorted(set(TASKS) - set(function_arns))
    if missing:
        raise ValueError(f"no function ARN for tasks: {', '.join(missing)}")
    values = {f"{name}FunctionArn": function_arns[name] for name in TASKS}
    values[TOPIC_PLACEHOLDER] = topic_arn
    for workflow, arn in (state_machine_arns or {}).items():
        values[state_machine_placeholder(workflow)] = arn
    return values


def state_machine_placeholder(workflow: str) -> str:
    """``test-restore`` -> ``TestRestoreStateMachineArn``."""
    return "".join(part.capitalize() for part in workflow.split("-")) + "StateMachineArn"


def started_workflows(workflow: str) -> list[str]:
    """The workflows ``workflow`` starts (``states:startExecution`` of their state machines), in order."""
    used = placeholders(asl_text(workflow))
    return [other for other in WORKFLOWS if state_machine_placeholder(other) in used]


def invoked_tasks(workflow: str) -> set[str]:
    """The catalog tasks a workflow's ASL references (its role may invoke exactly these)."""
    used = placeholders(asl_text(workflow))
    return {name for name in TASKS if f"{name}FunctionArn" in used}


def render(workflow: str, values: Mapping[str, str]) -> str:
    """The ASL with placeholders replaced (what Step Functions ends up running); checks completeness."""
    text = asl_text(workflow)
    unknown = placeholders(text) - set(values)
    if unknown:
        raise ValueError(f"{workflow}: no value for placeholders {sorted(unknown)}")
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    json.loads(rendered)
    return rendered


def _task_name(state: dict[str, Any]) -> str | None:
    parameters = state.get("Parameters")
    waits = isinstance(parameters, dict) and "FunctionName" in parameters  # lambda:invoke.waitForTaskToken
    resource = parameters["FunctionName"] if waits else state.get("Resource")  # type: ignore[index]
    match = PLACEHOLDER.fullmatch(str(resource or ""))
    name = match.group(1).removesuffix("FunctionArn") if match else None
    return name if name in TASKS else None


def state_map() -> list[tuple[str, str, str, str, str, str]]:
    """(workflow, state, task, host step, domain modules, host scripts) of every Task state that runs a Lambda
    task: where a newcomer finds the code behind each state (docs/architecture.md shows this table; a test keeps
    it current). A task without a host step names its handler instead."""
    import importlib

    rows: list[tuple[str, str, str, str, str, str]] = []

    def step_of(task: str) -> Any:
        module, _, attribute = TASKS[task].handler.rpartition(".")
        return getattr(getattr(importlib.import_module(module), attribute), "host_step", None)

    def walk(workflow: str, states: dict[str, Any]) -> None:
        for name, state in states.items():
            for branch in state.get("Branches", []):
                walk(workflow, branch["States"])
            for key in ("ItemProcessor", "Iterator"):  # a Map's iteration
                if key in state:
                    walk(workflow, state[key]["States"])
            task = _task_name(state) if state.get("Type") == "Task" else None
            if task is None:
                continue
            step = step_of(task)
            handler = TASKS[task].handler.removeprefix("freshtrack_ops.")
            scripts = ", ".join(f"`{script}`" for script in step.scripts) if step else ""
            code = step.domain if step else handler
            rows.append((workflow, name, task, step.name if step else "", code, scripts))

    for workflow in WORKFLOWS:
        walk(workflow, json.loads(asl_text(workflow))["States"])
    return rows


def state_map_markdown() -> str:
    """``state_map()`` as the Markdown table docs/architecture.md carries."""
    lines = [
        "| workflow | state | task (Lambda) | host step | code (under `freshtrack_ops.`) | host scripts |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {w} | {s} | `{t}` | {step or '—'} | `{code}` | {scripts or '—'} |"
        for w, s, t, step, code, scripts in state_map()
    ]
    return "\n".join(lines) + "\n"
