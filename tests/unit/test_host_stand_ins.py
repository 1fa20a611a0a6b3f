"""The local host's ufw, apt-check and df stand-ins print what the real commands print (each module says where
its format comes from)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from opsctl.local.stand_ins import apt_check, df, ufw
from opsctl.local.stand_ins.cli import main


def tool(state: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([args[0], "--state", str(state), *args[1:]], out, err)
    return code, out.getvalue(), err.getvalue()


def test_ufw_status_as_ufw_prints_it(tmp_path: Path) -> None:
    code, verbose, _ = tool(tmp_path, "ufw", "status", "verbose")
    assert code == 0
    assert verbose.startswith(
        "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n"
        "New profiles: skip\n\nTo                         Action      From\n"
        "--                         ------      ----\n"
        "22/tcp                     ALLOW IN    Anywhere                  \n"
    )
    assert "22/tcp (v6)                ALLOW IN    Anywhere (v6)             \n" in verbose
    plain = tool(tmp_path, "ufw", "status")[1]
    assert "22/tcp                     ALLOW       Anywhere" in plain and "Default:" not in plain
    ufw.set_firewall(tmp_path, status="inactive", default_incoming="deny", rules=())
    assert tool(tmp_path, "ufw", "status", "verbose") == (0, "Status: inactive\n", "")
    assert tool(tmp_path, "ufw", "allow", "5432")[0] == 1


def test_apt_check_prints_its_counts_on_stderr(tmp_path: Path) -> None:
    assert tool(tmp_path, "apt-check") == (0, "", "0;0")
    apt_check.set_pending(tmp_path, updates=7, security=2)
    assert tool(tmp_path, "apt-check") == (0, "", "7;2")


def test_df_reports_the_chosen_use_of_one_filesystem(tmp_path: Path) -> None:
    real = shutil.which("df") or "/bin/df"
    wrapper = df.write_df_wrapper(tmp_path, tmp_path, real)
    before = subprocess.run([str(wrapper), "-P", "-k", "/"], capture_output=True, text=True, check=True).stdout
    direct = subprocess.run([real, "-P", "-k", "/"], capture_output=True, text=True, check=True).stdout
    # the real df's line (its Used may move between two calls: other processes write to the disk)
    assert [line.split()[:2] + line.split()[5:] for line in before.splitlines()] == [
        line.split()[:2] + line.split()[5:] for line in direct.splitlines()
    ]
    mount = before.splitlines()[-1].split()[5]
    df.set_use(tmp_path, mount, 91)
    after = subprocess.run([str(wrapper), "-P", "-k", "/"], capture_output=True, text=True, check=True).stdout
    _, size, used, available, capacity, shown = after.splitlines()[-1].split(maxsplit=5)
    assert (capacity, shown, int(size)) == ("91%", mount, int(before.splitlines()[-1].split()[1]))
    assert int(used) == int(size) * 91 // 100 and int(used) + int(available) == int(size)
    df.set_use(tmp_path, mount, None)
    assert not df.path(tmp_path).exists()
