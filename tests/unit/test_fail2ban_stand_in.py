"""The local host's ``fail2ban-client`` stand-in answers as fail2ban 0.11 / 1.0 does (stand_ins/fail2ban.py says
where each behaviour comes from): the status tree, unbanip's count (0 and exit 0 for an IP that is not banned,
an error with ``--report-absent``), an unknown jail, a server that does not run."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from opsctl.local import stand_ins
from opsctl.local.stand_ins import fail2ban
from opsctl.local.stand_ins.cli import main


def client(state: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["fail2ban-client", "--state", str(state), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_fresh_host_runs_an_empty_sshd_jail(tmp_path: Path) -> None:
    code, out, err = client(tmp_path, "status", "sshd")
    assert (code, err) == (0, "")
    assert out == (
        "Status for the jail: sshd\n"
        "|- Filter\n"
        "|  |- Currently failed:\t0\n"
        "|  |- Total failed:\t0\n"
        "|  `- File list:\t/var/log/auth.log\n"
        "`- Actions\n"
        "   |- Currently banned:\t0\n"
        "   |- Total banned:\t0\n"
        "   `- Banned IP list:\t\n"
    )
    assert client(tmp_path, "status") == (0, "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n", "")


def test_banned_ips_are_listed_and_unbanned_one_by_one(tmp_path: Path) -> None:
    fail2ban.set_jail(tmp_path, "sshd", ("203.0.113.7", "198.51.100.23"), running=True, failed=2)
    code, out, _ = client(tmp_path, "status", "sshd")
    assert code == 0
    assert "|  |- Currently failed:\t2\n" in out
    assert "   |- Currently banned:\t2\n   |- Total banned:\t2\n" in out
    assert out.endswith("   `- Banned IP list:\t203.0.113.7 198.51.100.23\n")

    assert client(tmp_path, "set", "sshd", "unbanip", "203.0.113.7") == (0, "1\n", "")
    assert fail2ban.banned(tmp_path, "sshd") == ("198.51.100.23",)
    # not banned (any more): fail2ban >= 0.10.5 says 0 and succeeds ...
    assert client(tmp_path, "set", "sshd", "unbanip", "203.0.113.7") == (0, "0\n", "")
    # ... unless asked to report it
    code, out, err = client(tmp_path, "set", "sshd", "unbanip", "--report-absent", "203.0.113.7")
    assert (code, out) == (255, "not banned: ['203.0.113.7']\n")
    assert "fail2ban" in err and "ERROR   NOK: (\"not banned: ['203.0.113.7']\",)" in err
    assert fail2ban.banned(tmp_path, "sshd") == ("198.51.100.23",)
    # the total counts every ban there ever was
    assert "   |- Currently banned:\t1\n   |- Total banned:\t2\n" in client(tmp_path, "status", "sshd")[1]


def test_an_unknown_jail_and_a_stopped_server_fail_as_fail2ban_does(tmp_path: Path) -> None:
    code, out, err = client(tmp_path, "status", "nginx")
    assert (code, out) == (255, "Sorry but the jail 'nginx' does not exist\n")
    assert "NOK: ('nginx',)" in err
    assert client(tmp_path, "set", "nginx", "unbanip", "203.0.113.7")[:2] == (255, out)

    fail2ban.set_jail(tmp_path, "sshd", (), running=False)
    code, out, err = client(tmp_path, "status", "sshd")
    assert (code, out) == (255, "")
    assert "ERROR   Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?" in err


def test_the_wrapper_runs_the_stand_in(tmp_path: Path) -> None:
    wrapper = stand_ins.write_wrapper(tmp_path, "fail2ban-client", tmp_path)
    fail2ban.set_jail(tmp_path, "sshd", ("192.0.2.10",), running=True)
    argv = [str(wrapper), "set", "sshd", "unbanip", "192.0.2.10"]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, "1\n"), proc.stderr
    assert fail2ban.banned(tmp_path, "sshd") == ()
