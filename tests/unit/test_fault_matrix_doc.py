"""docs/reliability.md's fault table has a row for every case of tests/faults (the suite rewrites it)."""

from tests.faults import matrix


def test_every_fault_case_has_a_row_in_the_reliability_table() -> None:
    cases = matrix.case_names()
    assert len(cases) >= 30, f"the matrix needs at least 30 faults (has {len(cases)})"
    documented = matrix.documented_cases()
    assert documented == cases, f"missing: {sorted(cases - documented)}; stale: {sorted(documented - cases)}"


def test_the_table_is_written_from_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "reliability.md"
    doc.write_text(f"intro\n{matrix.BEGIN}\nold\n{matrix.END}\nafter\n")
    row = matrix.Row("test_x", "a fault", "backup", "StreamDump", "ssh", "FAILED X", ("no data lost",))
    matrix.write_doc([row], doc)
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("after\n") and "old" not in text
    assert "| 1 | a fault (`test_x`) | backup | StreamDump | ssh | FAILED X | no data lost |" in text
    assert matrix.documented_cases(doc) == {"test_x"}
