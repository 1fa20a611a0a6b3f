"""Rewrite docs/architecture.md's state-map block from the code (``make docs``)."""

from __future__ import annotations

import re
from pathlib import Path

import state_machines

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.compile(r"(<!-- state-map:begin -->\n).*?(<!-- state-map:end -->)", re.DOTALL)
    updated = block.sub(lambda m: m.group(1) + state_machines.state_map_markdown() + m.group(2), text)
    DOC.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
