"""``ufw`` stand-in: ``ufw status`` and ``ufw status verbose`` over ``ufw.json`` (``{"status": "active",
"default_incoming": "deny", "rules": [["22/tcp", "ALLOW IN", "Anywhere"], ...]}``; missing: the manual's
"Default rules (configured by deployment)": SSH, HTTP, HTTPS allowed, v4 and v6, all other inbound denied).

The text is ufw's (jdstrand/ufw src/backend_iptables.py ``get_status``): ``Status: inactive`` alone when the
firewall is off; else ``Status: active``, with ``verbose`` the ``Logging:``, ``Default: <in> (incoming), <out>
(outgoing), <routed> (routed)`` and ``New profiles: skip`` lines, then a blank line, the ``To / Action / From``
header and one line per rule, ``"%-26s %-12s%-26s"`` (the v4 rules first, then the v6 ones). Without
``verbose`` an inbound rule's action has no ``IN``. The real command must run as root; the stand-in does not
check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from opsctl.local.stand_ins import files

STATE_FILE = "ufw.json"
VERSION = "ufw 0.36.1\nCopyright 2008-2021 Canonical Ltd.\n"
#: the manual's default rules as ``ufw status verbose`` lists them: (To, Action, From)
DEFAULT_RULES: tuple[tuple[str, str, str], ...] = (
    ("22/tcp", "ALLOW IN", "Anywhere"),
    ("80/tcp", "ALLOW IN", "Anywhere"),
    ("443/tcp", "ALLOW IN", "Anywhere"),
    ("22/tcp (v6)", "ALLOW IN", "Anywhere (v6)"),
    ("80/tcp (v6)", "ALLOW IN", "Anywhere (v6)"),
    ("443/tcp (v6)", "ALLOW IN", "Anywhere (v6)"),
)


def default_state() -> dict[str, Any]:
    return {
        "status": "active",
        "default_incoming": "deny",
        "default_outgoing": "allow",
        "default_routed": "disabled",
        "logging": "on (low)",
        "rules": [list(rule) for rule in DEFAULT_RULES],
    }


def path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def set_firewall(
    state_dir: Path, *, status: str, default_incoming: str, rules: tuple[tuple[str, str, str], ...]
) -> None:
    if status not in ("active", "inactive"):
        raise ValueError(f"status: expected active or inactive (got {status!r})")
    if default_incoming not in ("deny", "allow", "reject"):
        raise ValueError(f"default_incoming: expected deny, allow or reject (got {default_incoming!r})")

    def change(data: dict[str, Any]) -> None:
        data.update(status=status, default_incoming=default_incoming, rules=[list(rule) for rule in rules])

    files.update(path(state_dir), default_state, change)


def status_text(data: dict[str, Any], *, verbose: bool) -> str:
    if data["status"] != "active":
        return "Status: inactive\n"
    text = "Status: active\n"
    if verbose:
        text += (
            f"Logging: {data['logging']}\n"
            f"Default: {data['default_incoming']} (incoming), {data['default_outgoing']} (outgoing), "
            f"{data['default_routed']} (routed)\n"
            "New profiles: skip\n"
        )
    rules = data["rules"]
    if not rules:
        return text
    # ufw's "%-26s %-12s%s" header and "%-26s %-12s%-26s" rule lines
    text += f"\n{'To':<26} {'Action':<12}From\n{'--':<26} {'------':<12}----\n"
    for to, action, source in rules:
        shown = action if verbose else action.removesuffix(" IN")
        text += f"{to:<26} {shown:<12}{source:<26}\n"
    return text + "\n"


def main(state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    """``ufw <args>``; the exit code."""
    if args in (["version"], ["--version"]):
        out.write(VERSION)
        return 0
    if args[:1] != ["status"] or args[1:] not in ([], ["verbose"]):
        err.write("ERROR: the local ufw stand-in knows `ufw status [verbose]` only\n")
        return 1
    out.write(status_text(files.read(path(state_dir), default_state), verbose=args[1:] == ["verbose"]))
    return 0
