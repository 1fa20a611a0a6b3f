"""docker's output conventions: aligned tables, human durations, container ids, the exec-not-found error."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from opsctl.local.docker_shim.state import ShimError

#: a Go template field reference, the only template syntax the shim renders (``{{.Service}} {{.State}}``)
_TEMPLATE_FIELD = re.compile(r"\{\{\s*\.([A-Za-z]+)\s*\}\}")


def human_duration(seconds: float) -> str:
    s = int(max(0, seconds))
    steps: list[tuple[int, str]] = [
        (1, "Less than a second"),
        (60, f"{s} seconds"),
        (120, "About a minute"),
        (3600, f"{s // 60} minutes"),
        (7200, "About an hour"),
        (172800, f"{s // 3600} hours"),
    ]
    return next((text for bound, text in steps if s < bound), f"{s // 86400} days")


def write_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def container_id(project: str, service: str) -> str:
    return hashlib.sha256(f"{project}/{service}".encode()).hexdigest()[:12]


def not_found(err: TextIO, exe: str) -> int:
    err.write(
        f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{exe}": '
        "executable file not found in $PATH: unknown\n"
    )
    return 126


def render_template(template: str, row: Mapping[str, Any]) -> str:
    """``--format '{{.Service}} {{.State}}'``: each ``{{.Field}}`` replaced by the row's value, as docker's Go
    templates print them; a field the row lacks is docker's template error (exit 1)."""

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in row:
            raise ShimError(f'template: :1: executing "" at <.{name}>: can\'t evaluate field {name}')
        return str(row[name])

    if "{{" in _TEMPLATE_FIELD.sub("", template):
        raise ShimError(f"docker shim: unsupported template (fields only): {template}")
    return _TEMPLATE_FIELD.sub(field, template)
