"""Every generated document (opsctl/docs_gen's registry) is what the code renders today: ``make docs`` rewrites them."""

from __future__ import annotations

from pathlib import Path

import pytest

import freshtrack_ops.observability  # noqa: F401 - at collection: its X-Ray recorder opens a UDP socket on import
from opsctl.docs_gen import DOCS, GeneratedDoc, MissingBlock


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_the_generated_document_is_current(doc: GeneratedDoc) -> None:
    current = doc.current()
    assert current is not None, f"{doc.path} is missing; stale: run make docs"
    assert doc.expected(current) == current, f"{doc.name}: stale: run make docs"


def test_the_registry_names_each_document_once() -> None:
    names = [doc.name for doc in DOCS]
    assert len(names) == len(set(names))


def test_a_block_is_rewritten_between_its_markers_and_the_prose_kept(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- table:begin A -->\nold\n<!-- table:end A -->\noutro\n", encoding="utf-8")
    doc = GeneratedDoc(page, lambda: "new\n", block="table A")
    assert doc.is_stale()
    assert doc.write()
    assert page.read_text(encoding="utf-8") == "intro\n<!-- table:begin A -->\nnew\n<!-- table:end A -->\noutro\n"
    assert not doc.is_stale()
    assert not doc.write()


def test_a_missing_block_or_file_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(MissingBlock, match="table:begin B"):
        GeneratedDoc(page, lambda: "x\n", block="table B").is_stale()
    assert GeneratedDoc(tmp_path / "absent.json", lambda: "{}\n").is_stale()


def test_check_lists_the_stale_documents_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from opsctl.docs_gen import __main__ as cli

    stale = GeneratedDoc(tmp_path / "absent.json", lambda: "{}\n")
    monkeypatch.setattr(cli, "DOCS", [stale])
    assert cli.main(["--check"]) == 1
    assert str(tmp_path / "absent.json") in capsys.readouterr().err
    assert not (tmp_path / "absent.json").exists()
    assert cli.main([]) == 0
    assert cli.main(["--check"]) == 0
