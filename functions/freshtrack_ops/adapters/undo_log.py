"""The undo log: what an execution started on a host and has not finished yet, kept in the ops table.

A step writes an entry BEFORE it starts something that must not outlive its workflow (a detached host job,
a scratch database) and removes it when that thing is done. Whatever is left when the execution ends by a
path its own states do not control — aborted, timed out, or a failure that stopped a Parallel branch — is
undone from here: by ``StopHostWork`` on the workflow's failure paths (running work only) and by the lock
janitor after ABORTED/TIMED_OUT (everything). Items sit next to the pending SSM commands of the execution
(pk ``EXECUTION#<execution arn>``, sk ``UNDO#<key>``) and expire by TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: entries outlive the longest workflow (restore: approval + three transfers) by days
ENTRY_TTL_S = 30 * 86_400
#: job: a detached host job; scratch: a scratch database; instance: a drill's EC2 instance (by its DR id tag)
UndoKind = Literal["job", "scratch", "instance"]


@dataclass(frozen=True)
class UndoEntry:
    """Undo ``key`` by running ``step``'s ``undo`` with ``event`` and ``context`` on ``host``."""

    key: str
    kind: UndoKind
    step: str
    host: str
    #: the step's event and context, as JSON
    event: str
    context: str = "{}"


def entry_key(execution_id: str, key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"EXECUTION#{execution_id}"}, "sk": {"S": f"UNDO#{key}"}}


class DynamoUndoLog:
    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def record(self, execution_id: str, entry: UndoEntry) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **entry_key(execution_id, entry.key),
                "kind": {"S": entry.kind},
                "step": {"S": entry.step},
                "host": {"S": entry.host},
                "event": {"S": entry.event},
                "context": {"S": entry.context},
                "expires_at": {"N": str(int(self._clock()) + ENTRY_TTL_S)},
            },
        )

    def resolve(self, execution_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._client.delete_item(TableName=self._table, Key=entry_key(execution_id, key))

    def of_execution(self, execution_id: str, kinds: Iterable[UndoKind] | None = None) -> list[UndoEntry]:
        wanted = set(kinds) if kinds is not None else None
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"EXECUTION#{execution_id}"}, ":prefix": {"S": "UNDO#"}},
            ConsistentRead=True,
        )
        entries = [
            UndoEntry(
                key=item["sk"]["S"].removeprefix("UNDO#"),
                kind=item["kind"]["S"],  # type: ignore[arg-type]
                step=item["step"]["S"],
                host=item["host"]["S"],
                event=item["event"]["S"],
                context=item["context"]["S"],
            )
            for item in response.get("Items", [])
        ]
        return [entry for entry in entries if wanted is None or entry.kind in wanted]
