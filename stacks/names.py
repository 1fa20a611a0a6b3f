"""Construct ids and output names from catalog and target names."""

from __future__ import annotations


def camel(name: str) -> str:
    """``test-restore`` -> ``TestRestore`` (construct ids and output names)."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)
