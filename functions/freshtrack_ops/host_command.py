"""One run of a host script (what every transport executes: SSH/local run it, SSM sends it as a document), and
the helpers that read what host scripts print."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from freshtrack_ops.ports import CommandResult, HostRunner
from freshtrack_ops.redact import redact


@dataclass(frozen=True)
class HostCommand:
    script: str
    env: Mapping[str, str] = field(default_factory=dict)
    #: the runner's timeout (SSH: idle/overall); SSM documents carry their own execution timeout
    timeout_s: float = 600.0

    def run(self, runner: HostRunner, *, stdin: Iterable[bytes] | None = None) -> CommandResult:
        return runner.run(self.script, self.env, timeout_s=self.timeout_s, stdin=stdin)


def parse_key_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            values[key] = value.strip()
    return values


def tail(text: str, lines: int = 5) -> str:
    """The last non-empty lines of a host command's output, for an error message: redacted, since a failing
    command (curl, the SSM agent's parameter check) may print the presigned URL it was given."""
    kept = [redact(line) for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"
