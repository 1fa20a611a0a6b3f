"""docs/state-machines.md draws every state of every ASL file, and every transition between them."""

from __future__ import annotations

import json
import re

import pytest

from freshtrack_ops.tasks import WORKFLOWS
from opsctl.docs_gen.mermaid import diagram, errors_label, escape, rule_summary, walk_states
from state_machines import asl_text

#: a node (``id["label"]``, ``id{"label"}``, ``id(["label"])``) or a subgraph (``subgraph id["title"]``)
NODE = re.compile(r'^\s*(?:subgraph )?([A-Za-z0-9_]+)(?:\[|\{|\(\[)"')
#: an edge ``a --> b``, ``a -->|"label"| b``, ``a -.->|"label"| b``
EDGE = re.compile(r'^\s*([A-Za-z0-9_]+) (-->|-\.->)(?:\|"[^"]*"\|)? ([A-Za-z0-9_]+)$')


def _targets(state: dict[str, object]) -> list[tuple[str, bool]]:
    """(target state, reached by a Catch) of every transition a state declares."""
    found: list[tuple[str, bool]] = []
    if "Next" in state:
        found.append((str(state["Next"]), False))
    found += [(str(rule["Next"]), False) for rule in state.get("Choices", [])]  # type: ignore[attr-defined]
    if "Default" in state:
        found.append((str(state["Default"]), False))
    found += [(str(catch["Next"]), True) for catch in state.get("Catch", [])]  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("workflow", list(WORKFLOWS))
def test_every_state_is_a_node_and_every_transition_an_edge(workflow: str) -> None:
    asl = json.loads(asl_text(workflow))
    chart = diagram(asl)
    nodes = {m.group(1) for line in chart.lines if (m := NODE.match(line))}
    edges = {(m.group(1), m.group(3), m.group(2) == "-.->") for line in chart.lines if (m := EDGE.match(line))}
    assert len(set(chart.ids.values())) == len(chart.ids), "node ids are unique"
    for path, state in walk_states(asl["States"]):
        node = chart.ids[path]
        assert node in nodes, f"{workflow}: {'/'.join(path)} is not drawn"
        for target, caught in _targets(state):
            assert (node, chart.ids[(*path[:-1], target)], caught) in edges, f"{workflow}: {path} -> {target}"
    assert chart.lines[0] == "flowchart TD"


def test_labels_cannot_break_out_of_their_quotes() -> None:
    text = escape('a "quoted" | [bracket] {brace} <tag> #1')
    assert not set(text) & set('"|[]{}<>')
    assert "#quot;" in text and "#35;1" in text


def test_choice_rules_and_catches_read_compactly() -> None:
    assert rule_summary({"Variable": "$.plan.path", "StringEquals": "swap", "Next": "X"}) == '$.plan.path == "swap"'
    assert rule_summary({"Variable": "$.job", "IsPresent": False}) == "$.job absent"
    rule = {"And": [{"Variable": "$.a", "NumericGreaterThan": 2}, {"Not": {"Variable": "$.b", "BooleanEquals": True}}]}
    assert rule_summary(rule) == "$.a > 2 and not ($.b == true)"
    assert rule_summary({"Variable": "$.a", "NumericEqualsPath": "$.b"}) == "$.a == $.b"
    assert errors_label(["States.ALL"]) == "any error"
    assert errors_label(["LockHeld", "HostUnreachable", "VerificationFailed", "X"]) == "LockHeld, HostUnreachable +2"
