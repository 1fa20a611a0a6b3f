"""In-memory fakes of the ports, for domain tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from freshtrack_ops.ports import CommandResult


@dataclass
class FakeUpload:
    key: str
    upload_id: str = "upload-1"
    parts: list[bytes] = field(default_factory=list)
    completed: bool = False
    aborted: bool = False
    fail_on_part: int | None = None

    def upload_part(self, data: bytes) -> None:
        if self.fail_on_part is not None and len(self.parts) + 1 == self.fail_on_part:
            raise RuntimeError("injected part failure")
        self.parts.append(data)

    def complete(self) -> int:
        self.completed = True
        return len(self.parts)

    def abort(self) -> None:
        self.aborted = True


@dataclass
class FakeStore:
    uploads: list[FakeUpload] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)
    fail_on_part: int | None = None

    def start_upload(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> FakeUpload:
        upload = FakeUpload(key=key, fail_on_part=self.fail_on_part)
        self.uploads.append(upload)
        return upload

    def put_json(self, key: str, body: str) -> None:
        self.objects[key] = body.encode()

    def get_text(self, key: str) -> str:
        return self.objects[key].decode()

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def abort_incomplete_uploads(self, key: str) -> int:
        pending = [u for u in self.uploads if u.key == key and not u.completed and not u.aborted]
        for upload in pending:
            upload.aborted = True
        return len(pending)

    def iter_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        data = self.objects[key]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]


class FakeStream:
    def __init__(self, chunks: list[bytes], result: CommandResult, fail_after: int | None = None) -> None:
        self._chunks = list(chunks)
        self._result = result
        self._fail_after = fail_after
        self.reads = 0

    def read(self, size: int) -> bytes:
        self.reads += 1
        if self._fail_after is not None and self.reads > self._fail_after:
            from freshtrack_ops.errors import HostConnectionLost

            raise HostConnectionLost("fake: connection lost")
        return self._chunks.pop(0) if self._chunks else b""

    def finish(self) -> CommandResult:
        return self._result


@dataclass
class FakeRunner:
    stream_chunks: list[bytes] = field(default_factory=list)
    stream_result: CommandResult = field(default_factory=lambda: CommandResult(0, "", ""))
    fail_after: int | None = None
    run_results: dict[str, CommandResult] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def run(
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: BinaryIO | None = None
    ) -> CommandResult:
        self.calls.append((script, dict(env)))
        return self.run_results[script]

    @contextmanager
    def stream(self, script: str, env: Mapping[str, str], *, timeout_s: float) -> Iterator[FakeStream]:
        self.calls.append((script, dict(env)))
        yield FakeStream(self.stream_chunks, self.stream_result, self.fail_after)

    def close(self) -> None:
        return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
