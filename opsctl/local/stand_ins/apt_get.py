"""``apt-get`` stand-in: ``update``, ``-s upgrade`` and ``-y upgrade`` (``--with-new-pkgs``, ``-o NAME=VALUE``) over
``apt-get.json``: ``{"packages": [{"name", "installed", "candidate", "needs_reboot"}], "lock": {"until": <epoch>},
"fail": false, "hang_s": 0, "reboot_required_file": <path>}`` (missing: nothing to upgrade, no fault).

What it copies from apt 2.6 (measured on this machine with a process holding the lock with ``lockf``, and
apt-get(8)):

* ``update`` takes the package lists' lock (``/var/lib/apt/lists/lock``) and does NOT wait for it, whatever
  ``DPkg::Lock::Timeout`` says: ``E: Could not get lock /var/lib/apt/lists/lock. It is held by process <pid>
  (<name>)`` then ``E: Unable to lock directory /var/lib/apt/lists/`` on stderr, exit 100.
* ``upgrade`` takes the dpkg frontend lock and waits ``DPkg::Lock::Timeout`` seconds (apt >= 1.9.11; default 0),
  printing ``Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process <pid>
  (<name>)...`` on stdout about once a second, then ``E: Unable to acquire the dpkg frontend lock
  (/var/lib/dpkg/lock-frontend), is another process using it?`` (with no wait, the ``Could not get lock`` line
  first, on stderr), exit 100.
* ``-s`` (simulate) takes no lock and prints ``Inst <pkg> [<installed>] (<candidate> <origin> [<arch>])`` and
  ``Conf`` lines; a package not installed yet (a new kernel's) has no ``[<installed>]`` and is only installed with
  ``--with-new-pkgs`` (else "kept back", as ``apt-get upgrade`` does).
* A failing upgrade ends as dpkg's failures do: ``E: Sub-process /usr/bin/dpkg returned an error code (1)``, exit 100.

An upgrade makes the candidates installed, writes the host's ``/var/run/reboot-required`` (and appends to
``.pkgs``, as update-notifier's notify-reboot-required does from a package's postinst) when a package that needs a
reboot was upgraded, and sets the apt-check stand-in's pending counts to what is left (``apt_check.py``), so the
daily check agrees.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from opsctl.local.stand_ins import apt_check, files

STATE_FILE = "apt-get.json"
#: who holds the lock in a lock fault, as apt names it (the process name from /proc, cut to 15 characters)
LOCK_HOLDER = (4242, "unattended-upgr")
ORIGIN = "Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64]"
FAILED = 100
FRONTEND_LOCK = "/var/lib/dpkg/lock-frontend"
LISTS_LOCK = "/var/lib/apt/lists/lock"


def default_state() -> dict[str, Any]:
    return {"packages": [], "lock": None, "fail": False, "hang_s": 0.0}


def path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def set_packages(state_dir: Path, packages: Sequence[tuple[str, str, str, bool]], reboot_required_file: Path) -> None:
    """The packages apt knows of: (name, installed version or "" when not installed, candidate, needs_reboot)."""
    entries = [
        {"name": name, "installed": installed, "candidate": candidate, "needs_reboot": needs_reboot}
        for name, installed, candidate, needs_reboot in packages
    ]

    def change(data: dict[str, Any]) -> None:
        data.update(packages=entries, reboot_required_file=str(reboot_required_file))

    files.update(path(state_dir), default_state, change)
    _set_pending(state_dir, entries)


def set_fault(state_dir: Path, *, lock_held_s: float | None, fail: bool, hang_s: float | None) -> None:
    """The dpkg lock (and the package lists' one) held by unattended-upgrades for ``lock_held_s`` seconds from the
    first apt-get that meets it (how long a command takes to reach apt-get does not change what it sees); every
    upgrade failing; every upgrade taking ``hang_s`` seconds. None/False clears each."""
    lock = {"held_s": lock_held_s, "until": None} if lock_held_s else None

    def change(data: dict[str, Any]) -> None:
        data.update(lock=lock, fail=fail, hang_s=hang_s or 0.0)

    files.update(path(state_dir), default_state, change)


def installed(state_dir: Path) -> dict[str, str]:
    packages = files.read(path(state_dir), default_state)["packages"]
    return {p["name"]: p["installed"] for p in packages if p["installed"]}


def _set_pending(state_dir: Path, packages: list[dict[str, Any]]) -> None:
    pending = sum(1 for p in packages if p["installed"] != p["candidate"])
    current = files.read(apt_check.path(state_dir), apt_check.default_state)
    apt_check.set_pending(state_dir, updates=pending, security=min(int(current["security"]), pending))


class Usage(Exception):
    """A command line the stand-in does not know."""


def _parse(args: list[str]) -> tuple[str, dict[str, str], set[str]]:
    """(command, -o options, flags)."""
    options: dict[str, str] = {}
    flags: set[str] = set()
    words: list[str] = []
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word in ("-o", "--option"):
            if not rest:
                raise Usage("-o needs NAME=VALUE")
            word = "--option=" + rest.pop(0)
        if word.startswith("--option="):
            name, _, value = word.removeprefix("--option=").partition("=")
            options[name.lower()] = value
        elif word in ("-s", "--simulate", "--dry-run", "--just-print", "--no-act", "--recon"):
            flags.add("simulate")
        elif word in ("-y", "--yes", "--assume-yes"):
            flags.add("y")
        elif word in ("-q", "-qq", "--quiet"):
            continue
        elif word == "--with-new-pkgs":
            flags.add("with-new-pkgs")
        elif word.startswith("-"):
            raise Usage(f"the local apt-get stand-in does not know option {word}")
        else:
            words.append(word)
    if words not in (["update"], ["upgrade"]):
        raise Usage(f"the local apt-get stand-in knows update and upgrade only (got {' '.join(words) or 'nothing'})")
    return words[0], options, flags


def _lock_held(state_dir: Path) -> bool:
    """Whether unattended-upgrades holds the lock now (its time starts at the first look)."""

    def look(data: dict[str, Any]) -> bool:
        lock: dict[str, Any] | None = data.get("lock")
        if lock is None:
            return False
        if lock["until"] is None:
            lock["until"] = time.time() + float(lock["held_s"])
        return time.time() < float(lock["until"])

    held: bool = files.update(path(state_dir), default_state, look)
    return held


def _held_by(lock_file: str) -> str:
    pid, name = LOCK_HOLDER
    return f"Could not get lock {lock_file}. It is held by process {pid} ({name})"


def _wait_for_frontend_lock(state_dir: Path, timeout_s: int, out: TextIO, err: TextIO) -> bool:
    """apt's debSystem lock loop: True once the lock is free, False after ``timeout_s`` (messages as apt's)."""
    if not _lock_held(state_dir):
        return True
    if timeout_s <= 0:
        err.write(f"E: {_held_by(FRONTEND_LOCK)}\n")
    else:
        deadline = time.monotonic() + timeout_s
        while _lock_held(state_dir):
            if time.monotonic() >= deadline:
                break
            out.write(f"Waiting for cache lock: {_held_by(FRONTEND_LOCK)}...\n")
            out.flush()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        else:
            return True
    err.write(f"E: Unable to acquire the dpkg frontend lock ({FRONTEND_LOCK}), is another process using it?\n")
    return False


def _chosen(packages: list[dict[str, Any]], with_new: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what the upgrade installs, what it keeps back)."""
    pending = [p for p in packages if p["installed"] != p["candidate"]]
    kept = [p for p in pending if not p["installed"] and not with_new]
    return [p for p in pending if p not in kept], kept


def _summary(chosen: list[dict[str, Any]], kept: list[dict[str, Any]]) -> str:
    lines = ["Reading package lists...", "Building dependency tree...", "Reading state information...",
             "Calculating upgrade..."]  # fmt: skip
    new = [p["name"] for p in chosen if not p["installed"]]
    upgraded = [p["name"] for p in chosen if p["installed"]]
    if kept:
        lines += ["The following packages have been kept back:", "  " + " ".join(p["name"] for p in kept)]
    if new:
        lines += ["The following NEW packages will be installed:", "  " + " ".join(new)]
    if upgraded:
        lines += ["The following packages will be upgraded:", "  " + " ".join(upgraded)]
    lines.append(f"{len(upgraded)} upgraded, {len(new)} newly installed, 0 to remove and {len(kept)} not upgraded.")
    return "\n".join(lines) + "\n"


def _simulate(chosen: list[dict[str, Any]]) -> str:
    inst = [
        f"Inst {p['name']} " + (f"[{p['installed']}] " if p["installed"] else "") + f"({p['candidate']} {ORIGIN})"
        for p in chosen
    ]
    conf = [f"Conf {p['name']} ({p['candidate']} {ORIGIN})" for p in chosen]
    return "".join(line + "\n" for line in inst + conf)


def _apply(state_dir: Path, chosen: list[dict[str, Any]], out: TextIO) -> None:
    names = {p["name"] for p in chosen}
    for p in chosen:
        if p["installed"]:
            out.write(f"Preparing to unpack .../{p['name']}_{p['candidate']}_amd64.deb ...\n")
            out.write(f"Unpacking {p['name']} ({p['candidate']}) over ({p['installed']}) ...\n")
        else:
            out.write(f"Selecting previously unselected package {p['name']}.\n")
            out.write(f"Unpacking {p['name']} ({p['candidate']}) ...\n")
        out.write(f"Setting up {p['name']} ({p['candidate']}) ...\n")

    def change(data: dict[str, Any]) -> list[dict[str, Any]]:
        for entry in data["packages"]:
            if entry["name"] in names:
                entry["installed"] = entry["candidate"]
        return list(data["packages"])

    packages = files.update(path(state_dir), default_state, change)
    _set_pending(state_dir, packages)
    rebooting = [p["name"] for p in chosen if p["needs_reboot"]]
    flag = files.read(path(state_dir), default_state).get("reboot_required_file")
    if rebooting and flag:
        flag_path = Path(flag)
        flag_path.write_text("*** System restart required ***\n", encoding="utf-8")
        with flag_path.with_name(flag_path.name + ".pkgs").open("a", encoding="utf-8") as pkgs:
            pkgs.write("".join(f"{name}\n" for name in rebooting))


def _upgrade(state_dir: Path, options: dict[str, str], flags: set[str], out: TextIO, err: TextIO) -> int:
    simulate = "simulate" in flags
    if not simulate:
        if "y" not in flags:
            err.write("E: the local apt-get stand-in never prompts: use -y\n")
            return FAILED
        timeout_s = int(options.get("dpkg::lock::timeout", "0") or 0)
        if not _wait_for_frontend_lock(state_dir, timeout_s, out, err):
            return FAILED
    data = files.read(path(state_dir), default_state)
    chosen, kept = _chosen(data["packages"], "with-new-pkgs" in flags)
    out.write(_summary(chosen, kept))
    if simulate:
        out.write(_simulate(chosen))
        return 0
    if float(data.get("hang_s") or 0):
        out.flush()
        time.sleep(float(data["hang_s"]))
    if data.get("fail") and chosen:
        first = chosen[0]
        out.write(f"Setting up {first['name']} ({first['candidate']}) ...\n")
        out.flush()  # dpkg's error follows what it was doing
        err.write(
            f"dpkg: error processing package {first['name']} (--configure):\n"
            " installed post-installation script subprocess returned error exit status 1\n"
            f"Errors were encountered while processing:\n {first['name']}\n"
            "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"
        )
        return FAILED
    _apply(state_dir, chosen, out)
    return 0


def main(state_dir: Path, args: list[str], out: TextIO, err: TextIO) -> int:
    """``apt-get <args>``; the exit code."""
    try:
        command, options, flags = _parse(args)
    except Usage as exc:
        err.write(f"E: {exc}\n")
        return FAILED
    if command == "update":
        if _lock_held(state_dir):
            err.write(f"E: {_held_by(LISTS_LOCK)}\nE: Unable to lock directory /var/lib/apt/lists/\n")
            return FAILED
        out.write("Hit:1 http://archive.ubuntu.com/ubuntu jammy InRelease\nReading package lists...\n")
        return 0
    return _upgrade(state_dir, options, flags, out, err)
