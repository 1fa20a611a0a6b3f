"""Chunks from the backup store, hashed as they pass (thread-safe hand-off to a stdin feeder)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator


class HashingChunks:
    """Iterates source chunks while computing SHA-256 and size; ``drain()`` consumes the rest."""

    CHUNK = 1024 * 1024

    def __init__(self, source: Iterator[bytes]) -> None:
        self._source = source
        self._digest = hashlib.sha256()
        self.size = 0
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._lock:
            chunk = next(self._source)
            self._digest.update(chunk)
            self.size += len(chunk)
            return chunk

    def drain(self) -> None:
        for _ in self:
            pass

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
