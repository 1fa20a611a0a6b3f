"""What the maintenance host scripts print: ``key=value`` lines, some repeated (``ran``, ``rotated``, ...), and
``after.<service>=<state>`` / ``status.<service>=<status>`` for the services after the change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"^([a-z_]+|(?:after|status)\.[a-z][a-z0-9_-]{0,62})=(.*)$")
#: keys a script may print more than once (in order)
REPEATED = frozenset({"ran", "rotated", "env_updated", "upgraded", "reboot_pkg"})


@dataclass
class HostOutput:
    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)

    def many(self, key: str) -> list[str]:
        return self.lists.get(key, [])


def parse_output(stdout: str) -> HostOutput:
    """Lines that are no report line (a tool's chatter on stdout) are skipped."""
    output = HostOutput()
    for line in stdout.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2)
        if key.startswith(("after.", "status.")):
            section, _, service = key.partition(".")
            (output.after if section == "after" else output.status)[service] = value
        elif key in REPEATED:
            output.lists.setdefault(key, []).append(value)
        else:
            output.values[key] = value
    return output
