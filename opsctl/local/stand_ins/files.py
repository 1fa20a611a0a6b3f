"""A stand-in's JSON state file: read (a default when missing), and changed under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.with_name(f".{path.name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read(path: Path, default: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def update(path: Path, default: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], Any]) -> Any:
    """Apply ``change`` to the file's data (the default when missing) under its lock; what ``change`` returns."""
    with _locked(path):
        data = read(path, default)
        result = change(data)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    return result
