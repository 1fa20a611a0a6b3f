"""One CLI invocation's settings (global options) and its two outputs: rich text for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import typer
from rich.console import Console

from opsctl.backend import Backend, aws_backend, local_backend

#: tests (and embedders) put a backend here instead of a deployed stack or the local plane's process
BACKEND_OVERRIDE: Callable[[Session], Backend] | None = None


@dataclass
class Session:
    local: bool = False
    json: bool = False
    stack: str | None = None
    region: str | None = None
    _backend: Backend | None = field(default=None, repr=False)
    _consoles: dict[bool, Console] = field(default_factory=dict, repr=False)

    @property
    def out(self) -> Console:
        return self._console(stderr=False)

    @property
    def err(self) -> Console:
        return self._console(stderr=True)

    def _console(self, *, stderr: bool) -> Console:
        """A terminal gets rich's view at its width; a pipe or a file gets lines up to 200 characters, unwrapped,
        so ``grep`` finds a whole row."""
        if stderr not in self._consoles:
            console = Console(stderr=stderr, highlight=False)
            if not console.is_terminal:
                console = Console(stderr=stderr, highlight=False, width=200, no_color=True)
            self._consoles[stderr] = console
        return self._consoles[stderr]

    def backend(self) -> Backend:
        if self._backend is None:
            if BACKEND_OVERRIDE is not None:
                self._backend = BACKEND_OVERRIDE(self)
            elif self.local:
                self._backend = local_backend(
                    on_starting=lambda: self.err.print(
                        "starting the local plane (embedded AWS, PostgreSQL, sshd; once, about 30 s; "
                        "`opsctl local down` stops it)"
                    )
                )
            else:
                self._backend = aws_backend(self.stack, self.region)
        return self._backend

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def session(ctx: typer.Context, json_flag: bool = False) -> Session:
    """The invocation's session; a command's own ``--json`` counts as the global one."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
    current: Session = root.obj
    if json_flag:
        current.json = True
    return current
