"""docs/state-machines.md: a Mermaid flowchart of every workflow, drawn from its ``state_machines/*.asl.json``.

Task, Pass and Wait states are boxes, Choice states rhombi with one labelled edge per rule (``otherwise`` for the
Default), Succeed and Fail states terminals (Fail red, with its error name), Parallel branches and Map iterations
subgraphs; Catch edges are dotted and name the errors they catch; a Retry other than the one every Lambda task has
for Lambda's own transient errors is noted in the node (``↻3``: up to 3 retries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: a Choice rule's summary, and a Catch edge's list of errors, are cut to about this many characters
MAX_LABEL = 40
#: a Catch edge names at most this many errors, then "+N"
MAX_ERRORS = 2

_COMPARISONS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}
_PLACEHOLDER = re.compile(r"^\$\{([A-Za-z0-9]+?)(?:FunctionArn|StateMachineArn)?\}$")

LEGEND = """```mermaid
flowchart LR
  task["Task, Pass or Wait<br/>the Lambda task or service it calls"]
  retry["Task ↻3<br/>retried up to 3 times"]
  choice{"Choice"}
  ok(["Succeed"]):::succeed
  failed(["Fail<br/>ErrorName"]):::fail
  subgraph par["Parallel branch or Map iteration"]
    inner["states inside"]
  end
  task --> choice
  choice -->|"a rule, e.g. $.plan.path == #quot;swap#quot;"| ok
  choice -->|otherwise| retry
  retry -.->|"caught errors"| failed
  retry --> par
  classDef fail fill:#fde2e2,stroke:#c0392b,color:#7b241c
  classDef succeed fill:#e3f4e1,stroke:#2e7d32,color:#1b5e20
```
"""


def escape(text: str) -> str:
    """A label's text inside Mermaid's quotes: the characters that would end or change it as entity codes."""
    text = text.replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("|", "#124;"), ("[", "#91;"), ("]", "#93;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text.replace("{", "#123;").replace("}", "#125;")


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rule_summary(rule: Mapping[str, Any]) -> str:
    """A Choice rule in one line: ``$.plan.path == "swap"``, ``$.x present``, ``not (...)``, ``a and b``."""
    for key, joiner in (("And", " and "), ("Or", " or ")):
        if key in rule:
            return joiner.join(rule_summary(r) for r in rule[key])
    if "Not" in rule:
        return f"not ({rule_summary(rule['Not'])})"
    variable = rule.get("Variable", "?")
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        if key == "IsPresent":
            return f"{variable} {'present' if value else 'absent'}"
        if key.startswith("Is"):  # IsNull, IsString, IsTimestamp, ...
            kind = key.removeprefix("Is").lower()
            return f"{variable} {'is' if value else 'is not'} {kind}"
        by_path = key.endswith("Path")
        operator = key.removesuffix("Path")
        for suffix, symbol in _COMPARISONS.items():
            if operator.endswith(suffix):
                shown = value if by_path else json.dumps(value)
                return f"{variable} {symbol} {shown}"
    return json.dumps({k: v for k, v in rule.items() if k != "Next"})


def errors_label(errors: Sequence[str]) -> str:
    if list(errors) == ["States.ALL"]:
        return "any error"
    shown = ", ".join(errors[:MAX_ERRORS])
    more = len(errors) - MAX_ERRORS
    return shorten(shown + (f" +{more}" if more > 0 else ""))


def _is_service_retry(retrier: Mapping[str, Any]) -> bool:
    """The Retry every Lambda task carries for Lambda's own transient errors (state_machines.LAMBDA_SERVICE_RETRY)."""
    return all(str(error).startswith("Lambda.") for error in retrier.get("ErrorEquals", []))


def retry_note(state: Mapping[str, Any]) -> str:
    attempts = [int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []) if not _is_service_retry(r)]
    return f" ↻{max(attempts)}" if attempts else ""


def resource_note(state: Mapping[str, Any]) -> str:
    """What a Task calls: the Lambda task's name, or the service integration."""
    resource = str(state.get("Resource", ""))
    raw = state.get("Parameters")
    parameters: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    target = str(parameters.get("FunctionName", "")) if "lambda:invoke" in resource else resource
    match = _PLACEHOLDER.match(target)
    if match:
        waits = ".waitForTaskToken" in resource
        return match.group(1) + (" (waits for the host)" if waits else "")
    if resource.startswith("arn:aws:states:::"):
        service = resource.removeprefix("arn:aws:states:::")
        if service.startswith("states:startExecution"):
            workflow = _PLACEHOLDER.match(str(parameters.get("StateMachineArn", "")))
            return f"starts {workflow.group(1) if workflow else 'an execution'}"
        return service
    return shorten(resource)


@dataclass
class Diagram:
    """One workflow's flowchart: its lines, and the node id of each state (by its path of names)."""

    lines: list[str] = field(default_factory=list)
    ids: dict[tuple[str, ...], str] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    _used: set[str] = field(default_factory=set)

    def node_id(self, path: tuple[str, ...]) -> str:
        base = "s_" + "__".join(re.sub(r"[^A-Za-z0-9_]", "_", part) for part in path)
        candidate, n = base, 2
        while candidate in self._used:
            candidate, n = f"{base}_{n}", n + 1
        self._used.add(candidate)
        self.ids[path] = candidate
        return candidate

    def edge(self, source: str, target: str, label: str = "", *, dotted: bool = False) -> str:
        self.edges.add((source, target))
        arrow = "-.->" if dotted else "-->"
        text = f'|"{escape(label)}"|' if label else ""
        return f"{source} {arrow}{text} {target}"


def diagram(asl: Mapping[str, Any]) -> Diagram:
    """The flowchart of an ASL definition (``flowchart TD``, a start node, the states, an end node)."""
    chart = Diagram()
    chart.lines.append("flowchart TD")
    chart.lines.append('  start(("start"))')
    finish = "finish"
    scope_ids = _declare(chart, asl["States"], ())
    edges = [chart.edge("start", scope_ids[asl["StartAt"]])]
    chart.lines += ["  " + line for line in _draw(chart, asl["States"], (), finish, edges)]
    if any(target == finish for _, target in chart.edges):
        chart.lines.append('  finish(("end"))')
    chart.lines += ["  " + line for line in edges]
    chart.lines.append("  classDef fail fill:#fde2e2,stroke:#c0392b,color:#7b241c")
    chart.lines.append("  classDef succeed fill:#e3f4e1,stroke:#2e7d32,color:#1b5e20")
    return chart


def _declare(chart: Diagram, states: Mapping[str, Any], scope: tuple[str, ...]) -> dict[str, str]:
    """Give every state of this scope (and of the scopes nested in it) its node id first, so edges can name them."""
    ids = {name: chart.node_id((*scope, name)) for name in states}
    for name, state in states.items():
        for index, branch in enumerate(_branches(state)):
            _declare(chart, branch["States"], (*scope, name, str(index)))
    return ids


def _branches(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    branches = list(state.get("Branches", []))
    for key in ("ItemProcessor", "Iterator"):
        if key in state:
            branches.append(state[key])
    return branches


def _draw(
    chart: Diagram, states: Mapping[str, Any], scope: tuple[str, ...], end: str | None, edges: list[str]
) -> list[str]:
    """The nodes of one scope (returned) and its edges (appended to ``edges``: drawn after every node, so no edge
    names a subgraph before it exists); ``end`` is where End states lead (None inside a branch: it just ends)."""
    lines: list[str] = []
    ids = {name: chart.ids[(*scope, name)] for name in states}
    for name, state in states.items():
        node = ids[name]
        lines += _node(chart, name, state, (*scope, name), edges)
        for target, label, dotted in _transitions(state):
            edges.append(chart.edge(node, ids[target], label, dotted=dotted))
        if state.get("End") and end is not None:
            edges.append(chart.edge(node, end))
    return lines


def _node(chart: Diagram, name: str, state: Mapping[str, Any], path: tuple[str, ...], edges: list[str]) -> list[str]:
    node = chart.ids[path]
    kind = state["Type"]
    if kind == "Choice":
        return [f'{node}{{"{escape(name)}"}}']
    if kind == "Succeed":
        return [f'{node}(["{escape(name)}"]):::succeed']
    if kind == "Fail":
        error = state.get("Error") or (f"error from {state['ErrorPath']}" if "ErrorPath" in state else "")
        detail = f"<br/>{escape(shorten(error))}" if error else ""
        return [f'{node}(["{escape(name)}{detail}"]):::fail']
    if kind in ("Parallel", "Map"):
        return _subgraph(chart, name, state, path, edges)
    note = ""
    if kind == "Task":
        note = resource_note(state)
    elif kind == "Wait":
        seconds = state.get("Seconds", state.get("SecondsPath", state.get("Timestamp", state.get("TimestampPath"))))
        note = f"wait {seconds} s" if "Seconds" in state else f"wait {seconds}"
    elif kind == "Pass":
        note = "pass"
    label = escape(name + retry_note(state)) + (f"<br/>{escape(note)}" if note else "")
    return [f'{node}["{label}"]']


def _subgraph(
    chart: Diagram, name: str, state: Mapping[str, Any], path: tuple[str, ...], edges: list[str]
) -> list[str]:
    node = chart.ids[path]
    if state["Type"] == "Map":
        limit = state.get("MaxConcurrency", state.get("MaxConcurrencyPath"))
        title = f"{name}: for each item" + (f", {limit} at a time" if limit else "")
    else:
        title = f"{name}: in parallel"
    lines = [f'subgraph {node}["{escape(title + retry_note(state))}"]', "  direction TB"]
    for index, branch in enumerate(_branches(state)):
        scope = (*path, str(index))
        inner = ["  " + line for line in _draw(chart, branch["States"], scope, None, edges)]  # ends inside
        if state["Type"] == "Parallel":
            branch_id = chart.node_id((*scope, "#branch"))
            lines += [f'  subgraph {branch_id}["branch {index + 1}"]', *["  " + line for line in inner], "  end"]
        else:
            lines += inner
    lines.append("end")
    return lines


def _transitions(state: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, label, dotted) of every way out of a state: Next, Choice rules, Default, Catch."""
    if "Next" in state:
        yield state["Next"], "", False
    for rule in state.get("Choices", []):
        yield rule["Next"], shorten(rule_summary(rule)), False
    if "Default" in state:
        yield state["Default"], "otherwise", False
    caught: dict[str, list[str]] = {}
    for catcher in state.get("Catch", []):
        caught.setdefault(catcher["Next"], []).extend(catcher.get("ErrorEquals", []))
    for target, errors in caught.items():
        yield target, errors_label(errors), True


def state_machines_markdown() -> str:
    """docs/state-machines.md: the legend, then one section per workflow in the catalog's order."""
    from freshtrack_ops.tasks import WORKFLOWS
    from state_machines import asl_text

    parts = [
        "# State machines\n",
        "<!-- generated by `make docs` (opsctl/docs_gen/mermaid.py) from state_machines/*.asl.json: "
        "edit those, not this page -->\n",
        "One flowchart per workflow, drawn from the same `state_machines/*.asl.json` file that CDK deploys and the "
        "local plane runs. Where each Task's code lives: the state map in [architecture.md](architecture.md). "
        "What the shapes mean:\n",
        LEGEND,
        "Every Lambda task also retries Lambda's own transient errors (throttling, service faults) up to 3 times; "
        "that shared Retry is not drawn. A Catch edge names the errors it catches (`any error`: `States.ALL`); the "
        "execution's own `TimeoutSeconds` runs no Catch.\n",
    ]
    parts += [f"- [{name}](#{name})" for name in WORKFLOWS]
    parts.append("")
    for name, workflow in WORKFLOWS.items():
        asl = json.loads(asl_text(name))
        chart = diagram(asl)
        count = sum(1 for _ in walk_states(asl["States"]))
        parts += [
            f"## {name}\n",
            f"{workflow.description.rstrip('.')}. `state_machines/{workflow.asl_file}`, {count} states.\n",
            "```mermaid",
            *chart.lines,
            "```\n",
        ]
    return "\n".join(parts)


def walk_states(states: Mapping[str, Any], scope: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every state (path of names, with a branch index inside Parallel and Map states) and its definition."""
    for name, state in states.items():
        yield (*scope, name), state
        for index, branch in enumerate(_branches(state)):
            yield from walk_states(branch["States"], (*scope, name, str(index)))


__all__ = ["Diagram", "diagram", "errors_label", "escape", "rule_summary", "state_machines_markdown", "walk_states"]
