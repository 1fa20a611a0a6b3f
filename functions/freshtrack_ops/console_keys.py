"""An EC2 instance's SSH host keys, as cloud-init prints them on the serial console.

cloud-init's ``cc_keys_to_console`` module runs ``write-ssh-key-fingerprints``, which writes the new host's
public keys between two marker lines, one ``<type> <base64> [<comment>]`` line per key (the
``ssh_host_*_key.pub`` files as they are, so usually with a ``root@<hostname>`` comment)::

    -----BEGIN SSH HOST KEY KEYS-----
    ecdsa-sha2-nistp256 AAAAE2VjZHNh... root@ip-10-0-0-14
    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5... root@ip-10-0-0-14
    -----END SSH HOST KEY KEYS-----

EC2's ``GetConsoleOutput`` sends the console base64-encoded (its ``Output``: "The console output,
base64-encoded"), the most recent 64 KB; botocore decodes it (``handlers.decode_console_output``, an
``after-call.ec2.GetConsoleOutput`` handler, invalid UTF-8 replaced), so boto3 callers get text. A key read from
there came from the instance itself through the EC2 API, not over the network from whoever answers on port 22:
that is what lets a new host be pinned without trusting it on first use.

The same module renders the block (the local plane's instances print it), so both sides follow one format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
#: the key types a target may pin (config.HOST_PUBLIC_KEY_PATTERN), without the anchors' line
_KEY_LINE = re.compile(
    r"(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) ([A-Za-z0-9+/=]{40,})( .*)?"
)


def parse_host_keys(console: str) -> tuple[str, ...]:
    """The ``<type> <base64>`` host keys of the last complete BEGIN/END block (a rebooted instance prints a
    block per boot: the newest keys are the ones sshd serves); () while no complete block has been printed.

    A line inside the block that is not a host key of a known type fails (ValueError): the block is not what
    cloud-init writes, and nothing from it may be pinned."""
    lines = [line.strip() for line in console.replace("\r\n", "\n").split("\n")]
    ends = [i for i, line in enumerate(lines) if line == END]
    for end in reversed(ends):
        begins = [i for i in range(end) if lines[i] == BEGIN]
        if begins:
            return tuple(_key(line) for line in lines[begins[-1] + 1 : end] if line)
    return ()


def _key(line: str) -> str:
    match = _KEY_LINE.fullmatch(line)
    if match is None:
        raise ValueError(f"console output: not an SSH host key line in the {BEGIN} block (got {line[:60]!r})")
    return f"{match.group(1)} {match.group(2)}"


def render_host_keys(keys: Iterable[str], comment: str) -> str:
    """The block as cloud-init prints it: each key (``<type> <base64>``) with ``comment``."""
    return "\n".join([BEGIN, *(f"{key} {comment}" for key in keys), END]) + "\n"
