"""The host key of a new instance comes from its console output: one complete block, the pinned type, or nothing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from freshtrack_ops.config import SshTarget
from freshtrack_ops.dr.host_key import BEGIN, END, host_keys_from_console, pinned_host_key, render_host_keys
from freshtrack_ops.errors import HostKeyRejected, HostKeyUnavailable


def _openssh(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


ED25519 = _openssh(ed25519.Ed25519PrivateKey.generate())
ECDSA = _openssh(ec.generate_private_key(ec.SECP256R1()))
RSA = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _block(*keys: str, prefix: str = "<14>Nov 30 13:41:03 ec2: ") -> list[str]:
    return [
        f"{prefix}#############################################################",
        f"{prefix}-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        f"{prefix}256 SHA256:Xq4b0x5oJm8pX3V4wC2cZ0z1k7mD6m2xFq2y0j8pL1s root@ip-172-31-5-10 (ED25519)",
        f"{prefix}-----END SSH HOST KEY FINGERPRINTS-----",
        f"{prefix}#############################################################",
        f"{prefix}{BEGIN}",
        *(f"{prefix}{key} root@ip-172-31-5-10" for key in keys),
        f"{prefix}{END}",
    ]


BOOT_NOISE = [
    "[    0.000000] Linux version 6.8.0-1012-aws (buildd@lcy02-amd64-048) (x86_64-linux-gnu-gcc-13)",
    "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=PARTUUID=5f8d console=tty1 console=ttyS0",
    "[  OK  ] Started ssh.service - OpenBSD Secure Shell server.",
    "Cloud-init v. 24.1.3-0ubuntu3 running 'modules:final' at Mon, 30 Nov 2026 13:41:02 +0000. Up 21.50 seconds.",
    "ci-info: no authorized SSH keys fingerprints found for user ubuntu.",
]


def _console(lines: list[str], *, crlf: bool = True) -> str:
    """GetConsoleOutput's Output as boto3 returns it: decoded text (serial consoles end lines with CRLF; bytes
    that are not UTF-8 replaced by botocore)."""
    text = ("\r\n" if crlf else "\n").join(lines) + "\r\n"
    return (text.encode() + b"\xff\xfe serial noise\r\n").decode("utf-8", "replace")


def test_the_pinned_type_is_taken_from_a_realistic_console_and_is_a_valid_target_host_key() -> None:
    output = _console([*BOOT_NOISE[:2], *_block(ECDSA, ED25519, RSA), *BOOT_NOISE[2:]])
    key = pinned_host_key(output, "ssh-ed25519")
    assert key == " ".join(ED25519.split()[:2])
    assert pinned_host_key(output, "ssh-rsa") == RSA
    assert pinned_host_key(output) == key  # ed25519 preferred
    SshTarget(
        id="new",
        address="127.0.0.1",
        domain="demo.example.com",
        private_key_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
        host_public_key=key,
    )


@pytest.mark.parametrize("prefix", ["", "ec2: ", "<14>Nov  3 09:05:30 ec2: ", "[   21.512345] cloud-init[812]: "])
def test_the_block_is_found_whatever_the_console_puts_before_each_line(prefix: str) -> None:
    keys = host_keys_from_console("\n".join([*BOOT_NOISE, *_block(ECDSA, prefix=prefix)]))
    assert keys == {"ecdsa-sha2-nistp256": ECDSA}


@pytest.mark.parametrize(
    ("lines", "error", "needle"),
    [
        (BOOT_NOISE, HostKeyUnavailable, "no SSH host key block yet"),
        (_block(ED25519)[:-1], HostKeyUnavailable, "incomplete"),  # still printing
        (_block(ED25519)[6:], HostKeyUnavailable, "incomplete"),  # the start is beyond the 64 KB kept
        ([*_block(ED25519), *_block(ECDSA)], HostKeyRejected, "2 different SSH host key blocks"),
        (_block(ED25519, ED25519), HostKeyRejected, "two ssh-ed25519 keys"),
        (_block(ECDSA, RSA), HostKeyRejected, "no ssh-ed25519 key (it lists ecdsa-sha2-nistp256, ssh-rsa)"),
        (_block(), HostKeyRejected, "lists no key"),
        (_block("ssh-ed25519 " + ECDSA.split()[1]), HostKeyRejected, "another type of key"),
        (_block("ssh-ed25519 AAAA%%%%"), HostKeyRejected, "not a public key"),
        (_block("ssh-ed25519 QUJD"), HostKeyRejected, "truncated"),
    ],
)
def test_anything_but_one_complete_unambiguous_block_is_refused(
    lines: list[str], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as caught:
        pinned_host_key(_console(lines), "ssh-ed25519")
    assert needle in str(caught.value)


def test_an_empty_console_is_not_yet_available() -> None:
    # a just-started instance: GetConsoleOutput answers without Output
    for output in (None, ""):
        with pytest.raises(HostKeyUnavailable):
            pinned_host_key(output)


def test_a_console_that_printed_the_same_block_twice_still_pins_it() -> None:
    assert pinned_host_key(_console([*_block(ED25519), *BOOT_NOISE, *_block(ED25519)])) == " ".join(ED25519.split()[:2])


def test_what_the_local_plane_renders_is_what_the_parser_reads() -> None:
    key = " ".join(ED25519.split()[:2])
    assert pinned_host_key(render_host_keys([key], "root@i-0abc"), "ssh-ed25519") == key
