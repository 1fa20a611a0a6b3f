"""HostRunner for the embedded host: the same scripts, run by a local bash (no SSH)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO, cast

from freshtrack_ops import host_scripts
from freshtrack_ops.adapters._channel_io import StderrCollector, StdinFeeder, run_to_end
from freshtrack_ops.errors import HostCommandTimeout
from freshtrack_ops.ports import CommandResult

_BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR")


class LocalRunner:
    def __init__(self, host_id: str) -> None:
        self._host_id = host_id

    def close(self) -> None:
        return None

    def run(
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: Iterable[bytes] | None = None
    ) -> CommandResult:
        return run_to_end(self.stream(script, env, timeout_s=timeout_s, stdin=stdin))

    @contextmanager
    def stream(
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: Iterable[bytes] | None = None
    ) -> Iterator[LocalStream]:
        full_env = {k: v for k, v in os.environ.items() if k in _BASE_ENV_KEYS} | host_scripts.script_env(script, env)
        process = subprocess.Popen(
            ["bash", "-c", host_scripts.load(script), script],
            env=full_env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        feeder = None
        if stdin is not None:
            stdin_pipe = cast(BinaryIO, process.stdin)

            def write(chunk: bytes) -> None:
                stdin_pipe.write(chunk)

            feeder = StdinFeeder(stdin, write, stdin_pipe.close)
        try:
            yield LocalStream(process, f"{self._host_id}: {script}", timeout_s, feeder)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            for output in (process.stdout, process.stderr):
                if output is not None:
                    output.close()


class LocalStream:
    def __init__(
        self, process: subprocess.Popen[bytes], what: str, timeout_s: float, feeder: StdinFeeder | None = None
    ) -> None:
        self._process = process
        self._feeder = feeder
        self._what = what
        self._timeout_s = timeout_s
        self._stdout = cast(BinaryIO, process.stdout)
        self._stderr = StderrCollector(cast(BinaryIO, process.stderr).read1)  # type: ignore[attr-defined]

    def read(self, size: int) -> bytes:
        return self._stdout.read1(size)  # type: ignore[attr-defined,no-any-return]

    def finish(self) -> CommandResult:
        try:
            status = self._process.wait(self._timeout_s)
        except subprocess.TimeoutExpired as exc:
            self._process.kill()
            raise HostCommandTimeout(f"{self._what}: still running after {self._timeout_s:.0f} s") from exc
        if self._feeder is not None:
            self._feeder.join(self._timeout_s)
        return CommandResult(status, "", self._stderr.text(self._timeout_s))
