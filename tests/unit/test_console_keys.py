"""Host keys from an EC2 console: cloud-init's BEGIN/END SSH HOST KEY KEYS block."""

from __future__ import annotations

import pytest

from freshtrack_ops.console_keys import BEGIN, END, parse_host_keys, render_host_keys

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGf7sB1x0kq3m1mJ0nqQe0m0mWq2xE1b9c5cS1yX2a3b"
EC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD5t0x1A"


def test_keys_of_a_block_as_cloud_init_prints_it_without_comments() -> None:
    console = "boot\r\n" + render_host_keys([EC, ED], "root@ip-10-0-0-14").replace("\n", "\r\n") + "login:\r\n"
    assert parse_host_keys(console) == (EC, ED)


def test_no_or_an_unfinished_block_is_no_key_yet() -> None:
    assert parse_host_keys("") == ()
    assert parse_host_keys(f"boot\n{BEGIN}\n{ED} root@h\n") == ()


def test_the_last_boot_wins() -> None:
    console = render_host_keys([EC], "root@a") + "reboot\n" + render_host_keys([ED], "root@a")
    assert parse_host_keys(console) == (ED,)


def test_a_line_that_is_no_key_fails() -> None:
    with pytest.raises(ValueError, match=r"^console output: not an SSH host key line .* \(got 'ssh-dss AAAA"):
        parse_host_keys(f"{BEGIN}\nssh-dss AAAA\n{END}\n")
