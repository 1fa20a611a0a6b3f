"""The fault matrix's table: every case records what it injected and how it ended; docs/reliability.md is
written from the records of a whole passing run (tests/conftest.py ``pytest_sessionfinish``).

A case calls ``record`` last, after its invariants held, so a failed case records nothing and the table only
ever shows runs that passed. Records go to the directory ``FAULT_RESULTS_DIR`` names (set by the session before
the workers start, so every xdist worker writes to the same place).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_ENV = "FRESHTRACK_FAULT_RESULTS"
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"


@dataclass(frozen=True)
class Row:
    case: str  # the test's name (a row per test and transport)
    fault: str
    workflow: str
    state: str
    transport: str
    end_state: str
    invariants: tuple[str, ...]
    variant: str = ""  # a parametrized case's variant (e.g. the state an abort hits): a row each


def transport_of(host: str) -> str:
    """The transport of one of the plane's hosts (tests/integration/conftest.py ``TRANSPORT_HOSTS``)."""
    from tests.integration.conftest import TRANSPORT_HOSTS

    return next(transport for transport, name in TRANSPORT_HOSTS.items() if name == host)


def record(
    case: str,
    *,
    fault: str,
    workflow: str,
    state: str,
    transport: str,
    end_state: str,
    invariants: tuple[str, ...],
    variant: str = "",
) -> None:
    """Record a case's row (call it last, once every invariant held). ``case`` is the test function's name."""
    directory = os.environ.get(RESULTS_ENV)
    if not directory:
        return
    row = Row(case, fault, workflow, state, transport, end_state, invariants, variant)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{case}-{variant}-{transport}")
    (Path(directory) / f"{name}.json").write_text(json.dumps(asdict(row)))


def load(directory: Path) -> list[Row]:
    rows = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        rows.append(Row(**{**data, "invariants": tuple(data["invariants"])}))
    return rows


def table(rows: list[Row]) -> str:
    """The Markdown table, sorted by workflow then case."""
    lines = [
        "| # | fault | workflow | state | transport | end state | invariants held |",
        "|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda r: (r.workflow, r.case, r.variant, r.transport))
    for number, row in enumerate(ordered, 1):
        fault = f"{row.fault}{f' [{row.variant}]' if row.variant else ''} (`{row.case}`)"
        cells = [str(number), fault, row.workflow, row.state, row.transport, row.end_state, ", ".join(row.invariants)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    faults = len({r.case for r in rows})
    workflows = len({r.workflow for r in rows})
    lines.append("")
    lines.append(f"{faults} faults, {len(rows)} runs (per transport), {workflows} workflows.")
    return "\n".join(lines)


def write_doc(rows: list[Row], doc: Path = DOC) -> None:
    """Replace the generated block of docs/reliability.md with the table of ``rows``."""
    text = doc.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{table(rows)}\n{END}{tail}")


HERE = Path(__file__).resolve().parent


def case_names(directory: Path = HERE) -> set[str]:
    """Every fault case: the test functions of tests/faults (read from the source, not collected)."""
    names: set[str] = set()
    for path in directory.glob("test_*.py"):
        names |= set(re.findall(r"^def (test_\w+)\(", path.read_text(), flags=re.MULTILINE))
    return names


def documented_cases(doc: Path = DOC) -> set[str]:
    """The cases docs/reliability.md's table has a row for (the test name is the row's first link's text)."""
    block = doc.read_text().partition(BEGIN)[2].partition(END)[0]
    return set(re.findall(r"`(test_\w+)`", block))
