"""Every document (or block of a document) generated from the code, in one registry.

``python -m opsctl.docs_gen`` (``make docs``) rewrites them all; ``python -m opsctl.docs_gen --check`` lists the
stale ones and exits 1; tests/unit/test_generated_docs.py fails on a stale one. A generated document is either a
whole file (``GeneratedDoc(path, render)``) or a block inside hand-written prose (``block="name"`` or
``block="name key"``: the text between ``<!-- name:begin key -->`` and ``<!-- name:end key -->``, each on a line
of its own). To add one: write a function that returns the text and append an entry to ``_entries()``.

Renderers are imported when they run, so listing the registry stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: the checkout these documents belong to (opsctl/docs_gen/__init__.py -> the repository root)
ROOT = Path(__file__).resolve().parents[2]


class MissingBlock(ValueError):
    """The document has no (or more than one) begin/end marker pair for a block."""


@dataclass(frozen=True)
class GeneratedDoc:
    """One generated file, or one generated block inside a hand-written file.

    ``path`` is relative to the repository root; ``render`` returns the whole file or the block's content (which
    ends with a newline: the end marker stays on a line of its own).
    """

    path: Path
    render: Callable[[], str]
    block: str | None = None

    @property
    def name(self) -> str:
        """How listings and test ids name the entry: ``docs/x.md`` or ``docs/x.md#block key``."""
        return f"{self.path.as_posix()}#{self.block}" if self.block else self.path.as_posix()

    @property
    def file(self) -> Path:
        return ROOT / self.path

    def markers(self) -> tuple[str, str]:
        if self.block is None:
            raise ValueError(f"{self.name}: not a block")
        marker, _, key = self.block.partition(" ")
        suffix = f" {key}" if key else ""
        return f"<!-- {marker}:begin{suffix} -->\n", f"<!-- {marker}:end{suffix} -->"

    def current(self) -> str | None:
        """The file's text as it is on disk (None: no such file)."""
        return self.file.read_text(encoding="utf-8") if self.file.exists() else None

    def expected(self, current: str | None = None) -> str:
        """The whole file's text as it should be (for a block: ``current`` with the block's content replaced)."""
        if self.block is None:
            return self.render()
        text = self.current() if current is None else current
        if text is None:
            raise MissingBlock(f"{self.name}: {self.path} does not exist")
        begin, end = self.markers()
        start = text.find(begin)
        stop = text.find(end, start + len(begin)) if start >= 0 else -1
        if start < 0 or stop < 0 or text.count(begin) != 1 or text.count(end) != 1:
            raise MissingBlock(f"{self.name}: {self.path} needs exactly one {begin.strip()} ... {end} pair")
        content = self.render()
        if not content.endswith("\n"):
            content += "\n"
        return text[: start + len(begin)] + content + text[stop:]

    def is_stale(self) -> bool:
        current = self.current()
        return current is None or self.expected(current) != current

    def write(self) -> bool:
        """Rewrite the document if it is stale; True when it changed."""
        current = self.current()
        expected = self.expected(current)
        if expected == current:
            return False
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(expected, encoding="utf-8")
        return True


def json_text(document: object) -> str:
    """How generated JSON documents are written: two-space indent, a final newline."""
    return json.dumps(document, indent=2) + "\n"


# -- renderers of the entries (imported when they run) ----------------------------------------------------


def _state_map() -> str:
    import state_machines

    return state_machines.state_map_markdown()


def _webhook_openapi() -> str:
    from freshtrack_ops.handlers.alerts import openapi_document

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def _input_schema(workflow: str) -> Callable[[], str]:
    def render() -> str:
        from opsctl.inputs import INPUT_MODELS

        return json_text(INPUT_MODELS[workflow].model_json_schema())

    return render


def _cli_reference() -> str:
    from opsctl.cli_reference import render

    return render()


def _cli_output_schema(name: str) -> Callable[[], str]:
    def render() -> str:
        from opsctl.cli_schemas import json_schema

        return json_text(json_schema(name))

    return render


def _state_diagrams() -> str:
    from opsctl.docs_gen.mermaid import state_machines_markdown

    return state_machines_markdown()


def _config_reference(model: str) -> Callable[[], str]:
    def render() -> str:
        from opsctl.docs_gen.config_reference import model_table

        return model_table(model)

    return render


def _entries() -> list[GeneratedDoc]:
    from opsctl.cli_schemas import CLI_OUTPUTS
    from opsctl.docs_gen.config_reference import CONFIG_MODELS
    from opsctl.inputs import INPUT_MODELS

    docs = [
        GeneratedDoc(Path("docs/architecture.md"), _state_map, block="state-map"),
        GeneratedDoc(Path("docs/webhook-openapi.json"), _webhook_openapi),
        GeneratedDoc(Path("docs/state-machines.md"), _state_diagrams),
    ]
    docs += [GeneratedDoc(Path(f"docs/schemas/{w}-input.json"), _input_schema(w)) for w in INPUT_MODELS]
    docs += [GeneratedDoc(Path("docs/cli.md"), _cli_reference)]
    docs += [GeneratedDoc(Path(f"docs/schemas/cli-{name}.json"), _cli_output_schema(name)) for name in CLI_OUTPUTS]
    docs += [
        GeneratedDoc(Path("docs/configuration.md"), _config_reference(m), block=f"config-reference {m}")
        for m in CONFIG_MODELS
    ]
    return docs


#: every generated document, in the order ``make docs`` writes them
DOCS: list[GeneratedDoc] = _entries()

__all__ = ["DOCS", "ROOT", "GeneratedDoc", "MissingBlock", "json_text"]
