"""Shared plumbing of the host runners: collect stderr on the side while stdout is consumed, feed stdin from a
thread, run a command to its end."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from freshtrack_ops.ports import ByteStream, CommandResult

MAX_STDERR_BYTES = 1 << 20


class StderrCollector:
    """Drains a stderr source in a thread (so a chatty command can never block), keeps the first 1 MiB."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._chunks: list[bytes] = []
        self._size = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="stderr-drain", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := self._read(65536):
                if self._size < MAX_STDERR_BYTES:
                    self._chunks.append(chunk)
                    self._size += len(chunk)
        except Exception as exc:
            self._error = exc

    def text(self, timeout_s: float) -> str:
        self._thread.join(timeout_s)
        return b"".join(self._chunks).decode("utf-8", errors="replace")


class StdinFeeder:
    """Feeds chunks to a command's stdin from a thread; stops quietly when the command stops reading."""

    def __init__(self, chunks: Iterable[bytes], write: Callable[[bytes], None], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._write = write
        self._close = close
        self.stopped_early = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._feed, name="stdin-feed", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        try:
            for chunk in self._chunks:
                try:
                    self._write(chunk)
                except OSError:
                    self.stopped_early = True
                    return
        except Exception as exc:
            self.error = exc
        finally:
            try:
                self._close()
            except OSError:
                self.stopped_early = True

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error


def run_to_end(stream: AbstractContextManager[ByteStream], chunk_size: int = 1 << 18) -> CommandResult:
    """``HostRunner.run`` for every runner: read the stream's stdout to the end, then its exit and stderr."""
    with stream as running:
        out = bytearray()
        while chunk := running.read(chunk_size):
            out += chunk
        result = running.finish()
    return CommandResult(result.exit_code, out.decode("utf-8", errors="replace"), result.stderr)
