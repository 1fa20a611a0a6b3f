"""A real OpenSSH server on 127.0.0.1 for the local host: generated ed25519 host and client keys, key auth."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")


class SshdError(RuntimeError):
    """sshd could not be set up or started."""


def available() -> bool:
    """True when an sshd binary and ssh-keygen exist and sshd runs (``sshd -V``)."""
    if not SSHD.exists() or not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        return False
    try:
        proc = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "OpenSSH" in (proc.stdout + proc.stderr)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children_tree(root_pid: int) -> list[int]:
    """All descendants of ``root_pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root_pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _terminate(pids: list[int], grace_s: float) -> None:
    """SIGTERM every process of ``pids`` and wait up to ``grace_s`` for them to be gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.02)


class SshServer:
    """``sshd -D -e -f <root>/ssh/sshd_config`` listening on 127.0.0.1:<port>, key auth for ``user``."""

    def __init__(
        self,
        root: Path,
        *,
        user: str | None = None,
        pid_file: Path | None = None,
        session_env: dict[str, str] | None = None,
        authorized_public_key: str | None = None,
    ) -> None:
        """``authorized_public_key``: the one key sshd accepts (an EC2 key pair's public key, as cloud-init
        installs it); by default a client key pair is generated and its public key authorized."""
        self.dir = root / "ssh"
        self.authorized_public_key = authorized_public_key
        self.user = user or getpass.getuser()
        self.port = 0
        self.pid_file = pid_file  # where the listener's pid is recorded for the docker shim
        self.session_env = dict(session_env or {})  # sshd SetEnv for sessions, e.g. PATH with the shim first
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "client_ed25519"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- keys and config -------------------------------------------------------------------------
    def setup(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        keys = [(self.host_key, "opsctl-local-host")]
        if self.authorized_public_key is None:
            keys.append((self.client_key, "opsctl-local-client"))
        for key, comment in keys:
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                    check=True,
                    capture_output=True,
                )
        authorized = self.dir / "authorized_keys"
        if self.authorized_public_key is None:
            authorized.write_text(self.client_key.with_suffix(".pub").read_text(encoding="utf-8"), encoding="utf-8")
        else:
            authorized.write_text(self.authorized_public_key.strip() + "\n", encoding="utf-8")
        authorized.chmod(0o600)
        if not self.port:
            self.port = _free_port()
        lines = [
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AllowUsers {self.user}",
            "MaxSessions 20",
            "MaxStartups 50",
            "LogLevel VERBOSE",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
        ]
        if self.session_env:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in sorted(self.session_env.items())))
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def private_key(self) -> str:
        """The generated client key (empty when an ``authorized_public_key`` was given: its owner holds it)."""
        if self.authorized_public_key is not None:
            return ""
        return self.client_key.read_text(encoding="utf-8")

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` without the comment: the line to pin."""
        parts = self.host_key.with_suffix(".pub").read_text(encoding="utf-8").split()
        return f"{parts[0]} {parts[1]}"

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_public_key}"

    # -- process ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self, timeout: float = 15) -> None:
        if self.pid is not None:
            return
        if not self.config.exists():
            self.setup()
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SshdError(f"sshd exited with {self._proc.returncode}: {self._log_tail()}")
            if self._banner_ok():
                if self.pid_file is not None:
                    self.pid_file.write_text(f"{self._proc.pid}\n", encoding="utf-8")
                return
            time.sleep(0.05)
        self.stop()
        raise SshdError(f"sshd did not answer on 127.0.0.1:{self.port} within {timeout}s: {self._log_tail()}")

    def _banner_ok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 0.0) -> None:
        """Stop the listener and every session it forked (sessions outlive a killed listener otherwise).

        ``grace_s``: first SIGTERM the sessions and give them this long to end, as a shutdown does (a shell ends
        with its EXIT traps run: a session killed outright while root's .bashrc runs ``pyenv rehash`` leaves
        pyenv's lock file behind, and every later login shell on this machine waits 60 s for it)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            sessions = _children_tree(proc.pid)
            if grace_s > 0 and sessions:
                _terminate(sessions, grace_s)
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
