"""One run of a host script: what every transport executes (SSH/local run it, SSM sends it as a document)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from freshtrack_ops.ports import CommandResult, HostRunner


@dataclass(frozen=True)
class HostCommand:
    script: str
    env: Mapping[str, str] = field(default_factory=dict)
    #: the runner's timeout (SSH: idle/overall); SSM documents carry their own execution timeout
    timeout_s: float = 600.0

    def run(self, runner: HostRunner, *, stdin: Iterable[bytes] | None = None) -> CommandResult:
        return runner.run(self.script, self.env, timeout_s=self.timeout_s, stdin=stdin)
