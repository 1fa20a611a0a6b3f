"""A new instance's SSH host key, read from its EC2 console output: pinned, never trusted on first use.

cloud-init prints the instance's public host keys to the console at first boot (its
``write-ssh-key-fingerprints`` helper, run by the ``keys_to_console`` module): a
``-----BEGIN SSH HOST KEY KEYS-----`` line, one ``<type> <base64> [comment]`` line per key (the ``.pub`` files of
``/etc/ssh/ssh_host_*key.pub``), and ``-----END SSH HOST KEY KEYS-----``. The lines go through
``logger --stderr -t ec2``, so on the console they may carry a syslog prefix (``<14>Nov 30 13:41:03 ec2: ``) or
an ``ec2: `` tag, and kernel messages may sit between them. EC2's GetConsoleOutput sends the output
base64-encoded, at most the most recent 64 KB (EC2 API reference, GetConsoleOutput); botocore decodes it
(``botocore.handlers.decode_console_output``, registered on ``after-call.ec2.GetConsoleOutput``, bytes that are
not UTF-8 replaced), so boto3 callers — and this module — get text. Decoding it again would fail on every real
console.

The console is written by the instance's own boot, before anyone could log in: that is why its key is a key we
may pin. Anything less than one complete, unambiguous block is refused (the block is printed once per instance —
cloud-init's ``keys_to_console`` runs per instance — so a second block is accepted only when it lists the
same keys, a console reprinted); polling until the block appears is the
workflow's job (``HostKeyUnavailable`` is the "not yet" answer).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterable

from freshtrack_ops.config import SshKeyType
from freshtrack_ops.errors import HostKeyRejected, HostKeyUnavailable

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
#: what may precede a line on the console: a syslog priority and timestamp, the ``ec2:`` tag of cloud-init's
#: logger call, a kernel-style ``[ 12.345678]`` stamp, or the ``ci-info:``-style ``cloud-init[123]:`` tag
_PREFIX = re.compile(
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?(?:\[\s*\d+\.\d+\] )?(?:[A-Za-z0-9_.-]+(?:\[\d+\])?: )?"
)
_KEY_LINE = re.compile(r"^(?P<type>[a-z0-9@.-]+) (?P<blob>[A-Za-z0-9+/]+={0,2})(?: .*)?$")
#: the order a target's pin falls back in when no type is configured: ed25519 first (fixed-size, no parameter
#: choices), RSA last
PREFERENCE: tuple[SshKeyType, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


def _lines(text: str) -> list[str]:
    return [_PREFIX.sub("", line.rstrip("\r").strip(), count=1).strip() for line in text.split("\n")]


def host_keys_from_console(text: str) -> dict[str, str]:
    """Every key of the one complete block, as ``{type: "type base64"}`` (known_hosts form, no comment)."""
    lines = _lines(text)
    begins = [i for i, line in enumerate(lines) if line == BEGIN]
    ends = [i for i, line in enumerate(lines) if line == END]
    if len(begins) > 1 or len(ends) > 1:
        blocks = {_block_keys(lines, begin, end) for begin, end in zip(begins, ends, strict=False)}
        if len(begins) != len(ends) or len(blocks) > 1:
            raise HostKeyRejected(
                f"console output holds {max(len(begins), len(ends))} different SSH host key blocks: which one is "
                "the instance's cannot be told, so none is pinned"
            )
        begins, ends = begins[-1:], ends[-1:]
    if not begins and not ends:
        raise HostKeyUnavailable("console output holds no SSH host key block yet (the instance is still booting)")
    if not begins or not ends or ends[0] < begins[0]:
        raise HostKeyUnavailable(
            "console output holds an incomplete SSH host key block (cut off: still printing, or beyond the 64 KB "
            "EC2 keeps)"
        )
    keys: dict[str, str] = {}
    for line in lines[begins[0] + 1 : ends[0]]:
        if not line:
            continue
        key_type, blob = _parse_key_line(line)
        if key_type in keys:
            raise HostKeyRejected(f"the SSH host key block lists two {key_type} keys")
        keys[key_type] = f"{key_type} {blob}"
    if not keys:
        raise HostKeyRejected("the SSH host key block lists no key")
    return keys


def _block_keys(lines: list[str], begin: int, end: int) -> tuple[str, ...]:
    return tuple(line for line in lines[begin + 1 : end] if line)


def render_host_keys(keys: Iterable[str], comment: str) -> str:
    """The block as cloud-init prints it, each ``<type> <base64>`` key with ``comment`` (the local plane's
    instances print it, so both sides follow one format)."""
    return "\n".join([BEGIN, *(f"{key} {comment}" for key in keys), END]) + "\n"


def _parse_key_line(line: str) -> tuple[str, str]:
    match = _KEY_LINE.match(line)
    if match is None:
        raise HostKeyRejected(f"the SSH host key block holds a line that is not a public key: {line[:60]!r}")
    key_type, blob = match.group("type"), match.group("blob")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HostKeyRejected(f"the {key_type} key in the SSH host key block is not base64") from exc
    # the key blob starts with its own type as an SSH string (RFC 4253 section 6.6): a label that disagrees with
    # it is a mangled (or forged) line
    if len(raw) < 4:
        raise HostKeyRejected(f"the {key_type} key in the SSH host key block is truncated")
    (length,) = struct.unpack(">I", raw[:4])
    if raw[4 : 4 + length] != key_type.encode():
        raise HostKeyRejected(f"the key labelled {key_type} in the SSH host key block is another type of key")
    return key_type, blob


def pinned_host_key(console: str | None, key_type: SshKeyType | None = None) -> str:
    """The host key to pin for a new instance, from GetConsoleOutput's ``Output`` (as boto3 returns it: text;
    absent while the instance has printed nothing): the key of ``key_type`` (the type the target pins), or
    without one the first of ``PREFERENCE`` the block lists. The value has the form of a target's
    ``host_public_key``."""
    keys = host_keys_from_console(console or "")
    wanted = (key_type,) if key_type is not None else PREFERENCE
    for candidate in wanted:
        if candidate in keys:
            return keys[candidate]
    listed = ", ".join(sorted(keys))
    raise HostKeyRejected(f"the SSH host key block lists no {' or '.join(wanted)} key (it lists {listed})")
