"""Static checks of every ASL file: placeholders, transitions, Retry/Catch on every Task."""

from __future__ import annotations

import json
from typing import Any

import pytest

import state_machines
from freshtrack_ops import errors
from freshtrack_ops.tasks import TASKS, WORKFLOWS
from state_machines import LAMBDA_SERVICE_RETRY, LOCK_STORE_RETRY

WORKFLOW_NAMES = sorted(WORKFLOWS)
FAKE_ARNS = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in TASKS}
TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"
FAKE_MACHINES = {name: f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}" for name in WORKFLOWS}
BUILTIN_ERRORS = {"States.ALL", "States.TaskFailed", "States.Timeout", "States.HeartbeatTimeout"}


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found |= _states(branch)
        if "Iterator" in state:
            found |= _states(state["Iterator"])
        if "ItemProcessor" in state:
            found |= _states(state["ItemProcessor"])
    return found


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_placeholder_is_substituted(workflow: str) -> None:
    text = state_machines.asl_text(workflow)
    values = state_machines.substitutions(FAKE_ARNS, TOPIC, FAKE_MACHINES)
    assert state_machines.placeholders(text) <= set(values)
    rendered = state_machines.render(workflow, values)
    assert "${" not in rendered


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_next_exists_and_every_state_is_reachable(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    states = definition["States"]
    targets = {definition["StartAt"]}
    for state in states.values():
        targets.update(t for t in (state.get("Next"), state.get("Default")) if t)
        targets.update(choice["Next"] for choice in state.get("Choices", []))
        targets.update(catcher["Next"] for catcher in state.get("Catch", []))
    assert targets <= set(states), f"unknown targets: {targets - set(states)}"
    assert set(states) <= targets, f"unreachable states: {set(states) - targets}"
    for name, state in states.items():
        ends = state.get("End") or state["Type"] in ("Succeed", "Fail", "Choice")
        assert ends or "Next" in state, f"{name} neither ends nor has Next"


def _catches_all(state: dict[str, Any]) -> bool:
    return any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", []))


def _tasks_with_guard(definition: dict[str, Any], guarded: bool = False) -> list[tuple[str, dict[str, Any], bool]]:
    """Every Task, and whether an enclosing Parallel/Map catches everything it might raise."""
    found = []
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found.append((name, state, guarded))
        for branch in state.get("Branches", []):
            found += _tasks_with_guard(branch, guarded or _catches_all(state))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found += _tasks_with_guard(state[key], guarded or _catches_all(state))
    return found


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_task_has_retry_and_catch(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    for name, state, guarded in _tasks_with_guard(definition):
        assert state.get("Retry"), f"{name} has no Retry"
        assert _catches_all(state) or guarded, f"{name} has no catch-all (nor an enclosing one)"


def _scopes(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Parallel branch and Map iteration (at any depth): each is a state machine of its own."""
    found = []
    for state in definition["States"].values():
        inner = [*state.get("Branches", []), *(state[key] for key in ("Iterator", "ItemProcessor") if key in state)]
        for scope in inner:
            found += [scope, *_scopes(scope)]
    return found


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_branch_and_iteration_transitions_exist(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    for scope in _scopes(definition):
        names = set(scope["States"])
        assert scope["StartAt"] in names
        reached = {scope["StartAt"]}
        for inner in scope["States"].values():
            targets = [inner.get("Next"), inner.get("Default")] + [c["Next"] for c in inner.get("Choices", [])]
            targets += [c["Next"] for c in inner.get("Catch", [])]
            assert inner.get("End") or inner["Type"] in ("Fail", "Succeed") or any(targets), inner
            assert all(t in names for t in targets if t), inner
            reached.update(t for t in targets if t)
        assert reached == names, f"unreachable: {names - reached}"


def test_state_names_are_unique_across_the_whole_state_machine() -> None:
    """Step Functions refuses a definition that uses one state name twice, in a branch or iteration too."""
    for workflow in WORKFLOW_NAMES:
        definition = json.loads(state_machines.asl_text(workflow))
        names = list(definition["States"]) + [name for scope in _scopes(definition) for name in scope["States"]]
        assert len(names) == len(set(names)), workflow


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_error_names_in_retry_and_catch_exist(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    known = {name for name in dir(errors) if isinstance(getattr(errors, name), type)} | BUILTIN_ERRORS
    for name, state in _states(definition).items():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                service = error.startswith(("Lambda.", "StepFunctions."))  # the integrations' own errors
                assert error in known or service, f"{name}: unknown error {error}"


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_task_resources_are_known_functions_or_service_integrations(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    functions = {f"${{{name}FunctionArn}}" for name in TASKS}
    for name, state in _states(definition).items():
        if state["Type"] != "Task":
            continue
        if state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken":
            assert state["Parameters"]["FunctionName"] in functions, name
            assert "$$.Task.Token" in json.dumps(state["Parameters"]), f"{name} does not pass the task token"
            assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{name} could wait forever"
        elif state["Resource"] == "arn:aws:states:::states:startExecution.sync:2":
            started = state["Parameters"]["StateMachineArn"]
            placeholders = {f"${{{state_machines.state_machine_placeholder(w)}}}" for w in WORKFLOWS}
            assert started in placeholders, f"{name} starts an unknown workflow {started}"
            assert "TimeoutSeconds" in state, f"{name} could wait forever"
        else:
            assert state["Resource"] in functions | {"arn:aws:states:::sns:publish"}, f"{name}: {state['Resource']}"


def test_substitutions_refuse_a_missing_function() -> None:
    partial = dict(FAKE_ARNS)
    partial.pop(next(iter(partial)))
    with pytest.raises(ValueError, match="no function ARN"):
        state_machines.substitutions(partial, TOPIC)


DATA_FUNCTIONS = {
    "${BackupDumpFunctionArn}",
    "${BackupVerifyFunctionArn}",
    "${RestoreLoadFunctionArn}",
    "${AppDeployFunctionArn}",
}


def _function(state: dict[str, Any]) -> str | None:
    parameters = state.get("Parameters")
    return parameters.get("FunctionName") if isinstance(parameters, dict) else state.get("Resource")


def _all_state_maps(definition: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
    return [definition["States"]] + [scope["States"] for scope in _scopes(definition)]


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_transfer_can_continue_as_a_polled_host_job(workflow: str) -> None:
    """A dump, verify or load may answer {"job": ...} (too long for one invocation): it must lead to a Choice
    on that field, a Wait on the job's poll_s and a HostJobPoll task that writes the same ResultPath, catches
    like the transfer and loops back to the Choice."""
    definition = json.loads(state_machines.asl_text(workflow))
    found = 0
    for states in _all_state_maps(definition):
        for name, state in states.items():
            if state["Type"] != "Task" or _function(state) not in DATA_FUNCTIONS:
                continue
            found += 1
            result = state["ResultPath"]
            choice = states[state["Next"]]
            assert choice["Type"] == "Choice", name
            (rule,) = choice["Choices"]
            assert rule == {"Variable": f"{result}.job", "IsPresent": True, "Next": rule["Next"]}, name
            wait = states[rule["Next"]]
            assert wait == {"Type": "Wait", "SecondsPath": f"{result}.job.poll_s", "Next": wait["Next"]}, name
            poll = states[wait["Next"]]
            assert _function(poll) == "${HostJobPollFunctionArn}", name
            assert poll["Parameters"]["Payload"]["job.$"] == f"{result}.job", name
            assert poll["ResultPath"] == result, name
            assert poll["Next"] == state["Next"], name
            assert [c["Next"] for c in poll.get("Catch", [])] == [c["Next"] for c in state.get("Catch", [])], name
    # capture-config reads two small files into a secret; remediation, the daily check, service operations and
    # drop-asides (DROP DATABASE) run one short command per step: none is ever a host job
    moves_no_data = {"capture-config", "remediation", "daily-check", "service", "drop-asides"}
    assert found or state_machines.started_workflows(workflow) or workflow in moves_no_data, (
        f"{workflow} moves no data (nor starts a workflow)?"
    )


def _invokes_lambda(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return resource.startswith("arn:aws:states:::lambda:invoke") or resource.endswith("FunctionArn}")


def lambda_retry_problems(definition: dict[str, Any]) -> list[str]:
    """Every Retry entry naming a Lambda.* error must be the standard one, and every Lambda task must have it."""
    problems = []
    for name, state in _states(definition).items():
        rules = state.get("Retry", [])
        for index, rule in enumerate(rules):
            if any(error.startswith("Lambda.") for error in rule["ErrorEquals"]) and rule != LAMBDA_SERVICE_RETRY:
                problems.append(f"{name}: Retry[{index}] differs from state_machines.LAMBDA_SERVICE_RETRY: {rule}")
        if state["Type"] == "Task" and _invokes_lambda(state) and LAMBDA_SERVICE_RETRY not in rules:
            problems.append(f"{name}: no Retry for Lambda's service errors")
    return problems


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_lambda_retry_is_the_standard_one(workflow: str) -> None:
    definition = json.loads(state_machines.asl_text(workflow))
    assert any(_invokes_lambda(s) for s in _states(definition).values())
    assert lambda_retry_problems(definition) == []


def lock_retry_problems(definition: dict[str, Any]) -> list[str]:
    """Every HostLock task retries LockStoreUnavailable with the standard rule, right after Lambda's; no other state
    names the error (only the lock task raises it)."""
    problems = []
    for name, state in _states(definition).items():
        rules = state.get("Retry", [])
        is_lock = state["Type"] == "Task" and state.get("Resource") == "${HostLockFunctionArn}"
        named = [rule for rule in rules if "LockStoreUnavailable" in rule["ErrorEquals"]]
        if is_lock and rules[:2] != [LAMBDA_SERVICE_RETRY, LOCK_STORE_RETRY]:
            problems.append(f"{name}: Retry is not [LAMBDA_SERVICE_RETRY, LOCK_STORE_RETRY]: {rules}")
        if not is_lock and named:
            problems.append(f"{name}: retries LockStoreUnavailable but is no HostLock task")
    return problems


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_every_lock_state_retries_a_lock_table_still_throttling(workflow: str) -> None:
    assert lock_retry_problems(json.loads(state_machines.asl_text(workflow))) == []


def test_a_lock_state_without_the_lock_store_retry_is_found() -> None:
    definition = json.loads(state_machines.asl_text("backup"))
    definition["States"]["AcquireLock"]["Retry"] = [LAMBDA_SERVICE_RETRY]
    definition["States"]["ReleaseLock"]["Retry"][1] = {**LOCK_STORE_RETRY, "MaxAttempts": 1}
    assert [problem.split(":")[0] for problem in lock_retry_problems(definition)] == ["AcquireLock", "ReleaseLock"]


def test_a_drifted_or_missing_lambda_retry_is_found() -> None:
    definition = json.loads(state_machines.asl_text("backup"))
    tasks = [(name, state) for name, state in definition["States"].items() if _invokes_lambda(state)]
    (drifted, first), (stripped, second) = tasks[0], tasks[1]
    first["Retry"][0] = {**first["Retry"][0], "MaxAttempts": 6}
    second["Retry"] = [rule for rule in second["Retry"] if rule != LAMBDA_SERVICE_RETRY]
    problems = lambda_retry_problems(definition)
    assert len(problems) == 3, problems  # the drifted copy, and so no standard one there; the removed one
    assert [p.split(":")[0] for p in problems] == [drifted, drifted, stripped]


def _timeouts(definition: dict[str, Any]) -> list[tuple[str, int]]:
    return [(name, state["TimeoutSeconds"]) for name, state in _states(definition).items() if "TimeoutSeconds" in state]


def _transfers_on_longest_path(states: dict[str, dict[str, Any]], start: str) -> int:
    """The most transfers (data tasks) one run can pass through in sequence (a Parallel counts its busiest
    branch; the poll loops' back edges are not followed)."""

    def walk(name: str, seen: frozenset[str]) -> int:
        if name in seen:
            return 0
        state = states[name]
        here = 1 if state["Type"] == "Task" and _function(state) in DATA_FUNCTIONS else 0
        if state["Type"] == "Parallel":
            here = max(_transfers_on_longest_path(b["States"], b["StartAt"]) for b in state["Branches"])
        nexts = [state.get("Next"), state.get("Default")] + [c["Next"] for c in state.get("Choices", [])]
        nexts += [c["Next"] for c in state.get("Catch", [])]
        return here + max((walk(n, seen | {name}) for n in nexts if n), default=0)

    return walk(start, frozenset())


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_no_state_outlives_its_execution(workflow: str) -> None:
    """When an execution reaches its own TimeoutSeconds no Catch runs (no cleanup, no notification): every
    state's timeout, the approval window and the longest chain of host jobs must fit inside it."""
    from freshtrack_ops.config import MAX_TRANSFER_HOURS, RestoreSettings

    definition = json.loads(state_machines.asl_text(workflow))
    limit = definition["TimeoutSeconds"]
    for name, seconds in _timeouts(definition):
        assert seconds < limit, f"{workflow}: {name} may wait {seconds} s, the execution only {limit} s"
    approval = 0
    if any("TimeoutSecondsPath" in state for state in _states(definition).values()):
        approval = RestoreSettings.model_fields["approval_timeout_s"].metadata[-1].le
    transfers = _transfers_on_longest_path(definition["States"], definition["StartAt"])
    needed = approval + transfers * MAX_TRANSFER_HOURS * 3600
    assert needed < limit, f"{workflow}: approval {approval} s + {transfers} host jobs need {needed} s > {limit} s"


# -- the update's and the rollback's two-step lock (lock_janitor.KEEP_LOCKED_PURPOSES) -------------------------------

#: what an update or a rollback may run before its re-lock (LockForChange), holding its lock as <workflow>-prepare
#: (released by the lock janitor when the execution is aborted or times out): reads of the host (preflight: a clean
#: work tree check and ``git fetch --tags``, no checkout; the schema fingerprint; the running images' digests), the
#: pre-change backup (a self-contained backup: an aborted one is undone from the undo log as a backup's is), and the
#: failure path of a workflow that changed nothing (stop its host work, clean the backup up, explain, unlock, notify).
#: A new state before the re-lock must be added here on purpose, or put after it.
PREPARE_ONLY = {
    "${HostLockFunctionArn}",
    "${UpdatePreflightFunctionArn}",
    "${SchemaFingerprintFunctionArn}",
    "${AppImagesFunctionArn}",
    "${BackupPreflightFunctionArn}",
    "${BackupDumpFunctionArn}",
    "${BackupManifestFunctionArn}",
    "${BackupVerifyFunctionArn}",
    "${HostJobPollFunctionArn}",
    "${StopHostWorkFunctionArn}",
    "${BackupCleanupFunctionArn}",
    "${ExplainErrorFunctionArn}",
    "arn:aws:states:::sns:publish",
}
#: the states that change the host, each reached only through the re-lock: code, containers, services, database
CHANGES = {
    "update": {"Checkout", "Deploy", "RollbackDown", "RollbackPinImages", "RollbackCheckout", "RestoreDatabase"},
    "rollback": {"Down", "Checkout", "Deploy", "RestoreDatabase"},
}


def _successors(state: dict[str, Any]) -> list[str]:
    found = [t for t in (state.get("Next"), state.get("Default")) if t]
    return found + [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]


def _reached_without(states: dict[str, dict[str, Any]], start: str, barrier: str) -> set[str]:
    """The states reachable from ``start`` on a path (Next, Choices, Default, Catch) that does not pass ``barrier``."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name == barrier:
            continue
        seen.add(name)
        todo.extend(_successors(states[name]))
    return seen


@pytest.mark.parametrize("workflow", sorted(CHANGES))
def test_update_and_rollback_take_their_lock_again_before_the_first_change(workflow: str) -> None:
    """AcquireLock takes the lock as <workflow>-prepare (the janitor frees it), LockForChange takes it again as
    <workflow> (kept): every path from AcquireLock to a state that changes the host passes LockForChange, and nothing
    before it changes anything. The re-lock's failure (a lock store still failing, a lease lost) takes the
    failure path of a workflow that changed nothing."""
    from freshtrack_ops.lock_janitor import KEEP_LOCKED_PURPOSES

    states = json.loads(state_machines.asl_text(workflow))["States"]
    acquire, relock = states["AcquireLock"], states["LockForChange"]
    assert acquire["Parameters"]["purpose"] == f"{workflow}-prepare"
    assert f"{workflow}-prepare" not in KEEP_LOCKED_PURPOSES and workflow in KEEP_LOCKED_PURPOSES
    assert relock["Parameters"] == acquire["Parameters"] | {"purpose": workflow}
    assert relock["Resource"] == acquire["Resource"] and relock["ResultPath"] == acquire["ResultPath"]
    assert states["BackupVerifyIsJob"]["Default"] == "LockForChange", "right after the pre-change backup"
    before = _reached_without(states, "AcquireLock", "LockForChange")
    assert not CHANGES[workflow] & before, f"reached without the re-lock: {sorted(CHANGES[workflow] & before)}"
    unclassified = {
        name: states[name].get("Parameters", {}).get("FunctionName", states[name]["Resource"])
        for name in before
        if states[name]["Type"] == "Task"
    }
    assert {n: f for n, f in unclassified.items() if f not in PREPARE_ONLY} == {}, "a change before LockForChange?"
    assert not any(states[name]["Type"] in ("Parallel", "Map") for name in before)
    (catch,) = relock["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "StopBeforeChange"
    after_failure = _reached_without(states, "StopBeforeChange", "LockForChange")
    assert not CHANGES[workflow] & after_failure and "ReleaseLockAfterFailure" in after_failure
    assert CHANGES[workflow] <= _reached_without(states, "LockForChange", "AcquireLock")
