"""``fail2ban-client`` stand-in: ``status [<jail>]``, ``set <jail> banip|unbanip [--report-absent] <ip>...``,
``ping``, ``version``, over ``fail2ban.json`` (``{"running": true, "jails": {"sshd": {"banned": [...],
"total_banned": n, "failed": n, "total_failed": n}}}``; missing: running, one empty ``sshd`` jail).

What it copies from fail2ban 0.11 / 1.0 (fail2ban/fail2ban at deffcbcd: client/beautifier.py, client/
fail2banclient.py, server/transmitter.py, server/actions.py, server/server.py):

* ``status <jail>`` prints the jail's tree exactly as ``Beautifier.beautify`` does (``|-``, `` `-``, a tab after
  each ``<name>:``), the filter's ``Currently failed`` / ``Total failed`` / ``File list`` and the actions'
  ``Currently banned`` / ``Total banned`` / ``Banned IP list`` (space separated, empty when none);
* ``set <jail> unbanip <ip>...`` prints the number of IPs it unbanned and exits 0, **also when an IP was not
  banned** (then ``0``): since 0.10.5/0.11.1 (gh-2349) the transmitter calls ``setUnbanIP(..., ifexists=True)``
  unless ``--report-absent`` comes first. With ``--report-absent`` an IP that was not banned is an error:
  ``removeBannedIP`` of the list raises ``ValueError("not banned: ['192.0.2.1']")`` (the IPs that were banned are
  unbanned all the same), the client logs ``ERROR   NOK: (...)`` on stderr, prints the message on stdout and
  exits 255;
* an unknown jail: ``Sorry but the jail 'x' does not exist`` on stdout, ``NOK: ('x',)`` logged, exit 255;
* a server that does not run: ``Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban
  running?`` logged on stderr, exit 255.

Errors are logged the way fail2ban-client logs them to stderr (``%(asctime)s %(name)-24s[%(process)d]:
%(levelname)-7s %(message)s``). The real client must run as root (the socket is root's); the stand-in does not
check.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, TextIO

from opsctl.local.stand_ins import files

STATE_FILE = "fail2ban.json"
SOCKET = "/var/run/fail2ban/fail2ban.sock"
VERSION = "1.0.2"
#: what the jails' filters read (Ubuntu's sshd jail: backend auto, /var/log/auth.log)
LOG_FILE = "/var/log/auth.log"
FAILED = 255


def empty_jail() -> dict[str, Any]:
    return {"banned": [], "total_banned": 0, "failed": 0, "total_failed": 0}


def default_state() -> dict[str, Any]:
    return {"running": True, "jails": {"sshd": empty_jail()}}


def path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def set_jail(state_dir: Path, jail: str, banned: tuple[str, ...], *, running: bool, failed: int = 0) -> None:
    """Jail ``jail`` bans exactly ``banned`` now (each IP not banned before adds to its total); the server runs or
    not."""

    def change(data: dict[str, Any]) -> None:
        entry = data["jails"].setdefault(jail, empty_jail())
        new = [ip for ip in banned if ip not in entry["banned"]]
        entry["banned"] = list(dict.fromkeys(banned))
        entry["total_banned"] = int(entry["total_banned"]) + len(new)
        entry["failed"] = failed
        entry["total_failed"] = max(int(entry["total_failed"]), failed)
        data["running"] = running

    files.update(path(state_dir), default_state, change)


def banned(state_dir: Path, jail: str) -> tuple[str, ...]:
    entry = files.read(path(state_dir), default_state)["jails"].get(jail)
    return tuple(entry["banned"]) if entry else ()


def _log_error(err: TextIO, message: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    err.write(f"{stamp} {'fail2ban':<24}[{os.getpid()}]: {'ERROR':<7} {message}\n")


def _jail_status(name: str, entry: dict[str, Any]) -> str:
    lines = [
        f"Status for the jail: {name}",
        "|- Filter",
        f"|  |- Currently failed:\t{entry['failed']}",
        f"|  |- Total failed:\t{entry['total_failed']}",
        f"|  `- File list:\t{LOG_FILE}",
        "`- Actions",
        f"   |- Currently banned:\t{len(entry['banned'])}",
        f"   |- Total banned:\t{entry['total_banned']}",
        f"   `- Banned IP list:\t{' '.join(entry['banned'])}",
    ]
    return "\n".join(lines) + "\n"


def _status(data: dict[str, Any], args: list[str], out: TextIO, err: TextIO) -> int:
    jails: dict[str, Any] = data["jails"]
    if not args:
        out.write(f"Status\n|- Number of jail:\t{len(jails)}\n`- Jail list:\t{', '.join(sorted(jails))}\n")
        return 0
    name = args[0]
    if name not in jails:
        _log_error(err, f"NOK: ({name!r},)")
        out.write(f"Sorry but the jail '{name}' does not exist\n")
        return FAILED
    out.write(_jail_status(name, jails[name]))
    return 0


def _set(state_dir: Path, data: dict[str, Any], args: list[str], out: TextIO, err: TextIO) -> int:
    if len(args) < 3 or args[1] not in ("banip", "unbanip"):
        return _invalid(out, err)
    name, command, ips = args[0], args[1], args[2:]
    if name not in data["jails"]:
        _log_error(err, f"NOK: ({name!r},)")
        out.write(f"Sorry but the jail '{name}' does not exist\n")
        return FAILED
    report_absent = command == "unbanip" and ips[0] == "--report-absent"
    if report_absent:
        ips = ips[1:]

    def change(current: dict[str, Any]) -> tuple[int, list[str]]:
        entry = current["jails"][name]
        listed: list[str] = entry["banned"]
        if command == "banip":
            new = [ip for ip in dict.fromkeys(ips) if ip not in listed]
            listed.extend(new)
            entry["total_banned"] = int(entry["total_banned"]) + len(new)
            return len(new), []
        gone = [ip for ip in dict.fromkeys(ips) if ip in listed]
        entry["banned"] = [ip for ip in listed if ip not in gone]
        return len(gone), [ip for ip in ips if ip not in gone]

    count, missed = files.update(path(state_dir), default_state, change)
    if report_absent and missed:
        message = f"not banned: {missed!r}"
        _log_error(err, f"NOK: ({message!r},)")
        out.write(message + "\n")
        return FAILED
    out.write(f"{count}\n")
    return 0


def _invalid(out: TextIO, err: TextIO) -> int:
    _log_error(err, "NOK: ('Invalid command',)")
    out.write("Invalid command (the local stand-in knows ping, version, status, set <jail> banip|unbanip)\n")
    return FAILED


def main(state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    """``fail2ban-client <args>``; the exit code."""
    data = files.read(path(state_dir), default_state)
    if not args:
        return _invalid(out, err)
    if not data.get("running", True):
        _log_error(err, f"Failed to access socket path: {SOCKET}. Is fail2ban running?")
        return FAILED
    command, rest = args[0], args[1:]
    replies = {"ping": "Server replied: pong", "version": VERSION}
    if command in replies and not rest:
        out.write(f"{replies[command]}\n")
        return 0
    if command == "status":
        return _status(data, rest, out, err)
    if command == "set":
        return _set(state_dir, data, rest, out, err)
    return _invalid(out, err)
