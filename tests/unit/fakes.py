"""In-memory fakes of the ports, for domain tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from freshtrack_ops.adapters.pending import PendingCommand
from freshtrack_ops.config import SsmTarget
from freshtrack_ops.ports import (
    BackupStore,
    Catalog,
    CatalogEntry,
    CommandResult,
    CommandSender,
    HostRunner,
    PendingCommandStore,
    RetentionCatalog,
    TagStore,
    TaskCallbacks,
)
from freshtrack_ops.remediation.guard import AuditEntry, AuditStatus


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

    def put_log(self, key: str, body: str) -> None:
        self.objects[key] = body.encode()

    def put_text(self, key: str, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
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
        self, script: str, env: Mapping[str, str], *, timeout_s: float, stdin: Iterable[bytes] | None = None
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


@dataclass
class FakeCallbacks:
    succeeded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    gone: bool = False

    def succeed(self, token: str, output: Mapping[str, Any]) -> None:
        self._check()
        self.succeeded.append((token, dict(output)))

    def fail(self, token: str, exc: BaseException) -> None:
        self._check()
        self.failed.append((token, type(exc).__name__, str(exc)))

    def _check(self) -> None:
        if self.gone:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "gone"}}, "SendTaskSuccess")


@dataclass
class FakeCommands:
    result: CommandResult | BaseException | None = None
    send_error: BaseException | None = None
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    command_id: str = "00000000-0000-0000-0000-000000000007"
    #: the exchange key each sent command got (a fake one per command) and those discarded since
    exchange_keys: dict[str, str] = field(default_factory=dict)
    discarded: list[str] = field(default_factory=list)

    def send(self, target: SsmTarget, script: str, env: Mapping[str, str]) -> str:
        if self.send_error:
            raise self.send_error
        self.sent.append((target.id, script, dict(env)))
        self.exchange_keys[self.command_id] = f"ssm-exchange/hosts/{target.instance_id}/{len(self.sent):032x}"
        return self.command_id

    def take_exchange_key(self, command_id: str) -> str:
        return self.exchange_keys.pop(command_id, "")

    def discard_exchange(self, exchange_key: str) -> None:
        if exchange_key:
            self.discarded.append(exchange_key)

    def status(self, command_id: str, instance_id: str) -> CommandResult | None:
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result

    def cancel(self, command_id: str, instance_id: str) -> None:
        self.cancelled.append(command_id)


@dataclass
class FakePending:
    records: dict[str, PendingCommand] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    put_error: BaseException | None = None

    def put(self, pending: PendingCommand) -> None:
        if self.put_error:
            raise self.put_error
        self.records[pending.command_id] = pending

    def get(self, command_id: str) -> PendingCommand | None:
        return self.records.get(command_id)

    def claim(self, command_id: str) -> bool:
        if command_id not in self.records or command_id in self.claimed:
            return False
        self.claimed.add(command_id)
        return True

    def delete(self, pending: PendingCommand) -> None:
        self.records.pop(pending.command_id, None)

    def of_execution(self, execution_id: str) -> list[tuple[str, str]]:
        return [(p.command_id, p.instance_id) for p in self.records.values() if p.execution_id == execution_id]


@dataclass
class FakeCatalog:
    """The catalog as a list, newest first (``Catalog`` and ``RetentionCatalog``)."""

    entries: list[CatalogEntry] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def record_backup(self, entry: CatalogEntry, manifest_json: str) -> None:
        self.entries.insert(0, entry)

    def set_verification(self, entry: CatalogEntry, status: str, verified_at: str, manifest_json: str) -> None:
        self.entries = [
            replace(e, verification_status=status, verified_at=verified_at) if e.backup_id == entry.backup_id else e
            for e in self.entries
        ]

    def list_backups(self, host: str) -> list[CatalogEntry]:
        return [e for e in self.entries if e.host == host]

    def forget(self, entry: CatalogEntry) -> None:
        self.forgotten.append(entry.backup_id)


@dataclass
class FakeTags:
    """Object tags in memory (``TagStore``) that records writes and can fail the n-th one."""

    objects: dict[str, dict[str, str]]
    writes: list[tuple[str, str]] = field(default_factory=list)
    fail_at: int | None = None

    def get_tags(self, key: str) -> dict[str, str] | None:
        return dict(self.objects[key]) if key in self.objects else None

    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        if self.fail_at is not None and len(self.writes) == self.fail_at:
            raise RuntimeError("injected tagging failure")
        self.writes.append((key, tags["retention"]))
        self.objects[key] = tags


def _fakes_match_their_ports() -> None:
    """Never called: mypy checks these assignments, so a fake that drifts from its port fails the type check."""
    store: BackupStore = FakeStore()
    runner: HostRunner = FakeRunner()
    callbacks: TaskCallbacks = FakeCallbacks()
    commands: CommandSender = FakeCommands()
    pending: PendingCommandStore = FakePending()
    catalog: Catalog = FakeCatalog()
    retention: RetentionCatalog = FakeCatalog()
    tags: TagStore = FakeTags({})
    del store, runner, callbacks, commands, pending, catalog, retention, tags


class FakeAudit:
    """The audit log (remediation.guard.AuditLog) in memory, for validators: they only open entries."""

    def __init__(self) -> None:
        self.recorded: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.recorded.append(entry)

    def complete(self, host: str | None, audit_id: str, status: AuditStatus, detail: str, *, now: datetime,
                 execution_arn: str | None = None) -> None:  # fmt: skip
        raise AssertionError("the validator only opens entries")

    def entries(self, host: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return self.recorded[:limit]
