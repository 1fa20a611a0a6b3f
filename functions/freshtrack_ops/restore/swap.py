"""Restore by swap (docs/restore-swap.md): the names of the incoming and aside databases, and whether the host has
the disk for the swap or the restore takes the old path (safety backup, drop, load).

Pure functions: the host primitives are database.sh's create-incoming, drop-incoming, swap-in, swap-back and
drop-aside (``restore.database``)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

from freshtrack_ops.errors import InvalidInput

MAX_IDENTIFIER = 63
INCOMING_INFIX = "_incoming_"
ASIDE_INFIX = "_aside_"
#: hex digits of the execution's hash in each name
SHORT_ID_CHARS = 8


@dataclass(frozen=True)
class SwapNames:
    """The databases of one restore by swap: the backup is loaded into ``incoming``; swap-in renames the live
    database to ``aside`` and ``incoming`` to the live name."""

    live: str
    incoming: str
    aside: str


def short_id(execution_id: str) -> str:
    """8 hex digits of the execution id's SHA-256: the same for every attempt of one execution (a retried step
    finds the databases of the earlier attempt), different between executions."""
    if not execution_id:
        raise InvalidInput("execution_id: needed to name the swap's databases (got '')")
    return hashlib.sha256(execution_id.encode()).hexdigest()[:SHORT_ID_CHARS]


def _derived(live: str, infix: str, sid: str) -> str:
    suffix = infix + sid
    return live[: MAX_IDENTIFIER - len(suffix)] + suffix


def swap_names(live: str, execution_id: str) -> SwapNames:
    """``<live>_incoming_<id>`` and ``<live>_aside_<id>`` (the live name cut so each stays within PostgreSQL's 63
    characters): never the live name, never each other, valid identifiers (the live name is one)."""
    sid = short_id(execution_id)
    names = SwapNames(live=live, incoming=_derived(live, INCOMING_INFIX, sid), aside=_derived(live, ASIDE_INFIX, sid))
    if len({names.live, names.incoming, names.aside}) != 3:  # only a live name cut to look like ours could do it
        raise InvalidInput(f"database: the swap's names collide with the live database (got {live!r})")
    return names


# -- swap or drop ------------------------------------------------------------------------------------------------
MIB = 1024 * 1024
#: the incoming database is taken as this much larger than the backup's source database (a fresh load has no bloat,
#: but its indexes are built anew, and the estimate is a size measured at dump time)
SIZE_FACTOR = 1.25
#: disk kept free beyond that: the WAL the load writes before checkpoints recycle it (max_wal_size defaults to 1 GB)
#: and room for the application itself
RESERVE_MB = 2048

RestorePath = Literal["swap", "drop"]


@dataclass(frozen=True)
class SwapDecision:
    path: RestorePath
    #: MB (MiB, as ``df -Pm`` counts) the swap needs free, and what the preflight found
    needed_mb: int
    free_mb: int
    reason: str


def needed_mb(incoming_bytes: int, *, reserve_mb: int = RESERVE_MB, factor: float = SIZE_FACTOR) -> int:
    """What must be free to load a database of ``incoming_bytes`` next to the live one."""
    if incoming_bytes < 0 or reserve_mb < 0 or factor < 1:
        raise ValueError(f"bad figures: {incoming_bytes} bytes, reserve {reserve_mb} MB, factor {factor}")
    return math.ceil(incoming_bytes * factor / MIB) + reserve_mb


def decide_restore_path(
    free_disk_mb: int,
    live_size_bytes: int,
    backup_size_bytes: int | None = None,
    *,
    reserve_mb: int = RESERVE_MB,
    factor: float = SIZE_FACTOR,
) -> SwapDecision:
    """Swap when the host has room for the incoming database next to the live one, else the old path.

    ``free_disk_mb`` and ``live_size_bytes`` are the preflight's ``free_disk_mb`` and ``database_size_bytes``;
    ``backup_size_bytes`` the backup manifest's ``database_size_bytes`` (the size of the database it was dumped
    from: what the load will take). Without it the live database's size stands in. The larger of the two is taken
    (a backup of a bigger past database, or a live database that grew), times ``factor``, plus ``reserve_mb``.
    The swap frees nothing until the aside is dropped: the live database stays where it is, so its size is not
    added back. A negative free figure (an unreadable df) is the old path."""
    if free_disk_mb < 0:
        return SwapDecision("drop", 0, free_disk_mb, f"free disk unknown ({free_disk_mb} MB)")
    incoming = max(live_size_bytes, backup_size_bytes or 0)
    need = needed_mb(incoming, reserve_mb=reserve_mb, factor=factor)
    if free_disk_mb >= need:
        reason = f"{free_disk_mb} MB free, the incoming database needs {need} MB: swap"
        return SwapDecision("swap", need, free_disk_mb, reason)
    reason = f"{free_disk_mb} MB free, the incoming database needs {need} MB: safety backup and drop"
    return SwapDecision("drop", need, free_disk_mb, reason)


def choose_restore_path(
    swap_enabled: bool, free_disk_mb: int | None, live_size_bytes: int, backup_size_bytes: int | None
) -> SwapDecision:
    """The restore's path (RestoreDecide): ``restore.swap`` off is the old path; otherwise the room on PostgreSQL's
    data directory decides (``free_disk_mb`` None, the server would not say where it is: the old path, as a swap
    that runs out of disk half way would stop the load, not lose data, but the old path needs no guess)."""
    if not swap_enabled:
        return SwapDecision("drop", 0, free_disk_mb if free_disk_mb is not None else -1, "restore.swap is off")
    if free_disk_mb is None:
        return SwapDecision("drop", 0, -1, "the free disk of the data directory is unknown: safety backup and drop")
    return decide_restore_path(free_disk_mb, live_size_bytes, backup_size_bytes)
