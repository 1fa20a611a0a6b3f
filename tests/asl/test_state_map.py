"""docs/architecture.md's table of states, tasks, steps, code and scripts is the code's own (generated)."""

from __future__ import annotations

import re
from pathlib import Path

import state_machines
from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.steps.registry import STEPS

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_the_documented_state_map_is_current() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    documented = re.search(r"<!-- state-map:begin -->\n(.*?)<!-- state-map:end -->", text, re.DOTALL)
    assert documented, "docs/architecture.md has no state-map block"
    expected = state_machines.state_map_markdown()
    assert documented.group(1) == expected, "regenerate it: make docs"


def test_every_host_task_state_names_its_step_and_scripts() -> None:
    rows = state_machines.state_map()
    host_rows = [row for row in rows if row[3]]
    assert {row[3] for row in host_rows} == set(STEPS), "every step is used by some state"
    for _workflow, state, _task, _step, _code, scripts in host_rows:
        for script in re.findall(r"`([a-z_]+\.sh)`", scripts):
            assert script in SCRIPT_PARAMETERS, f"{state}: {script} is not a host script"
