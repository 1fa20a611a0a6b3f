"""How each ``backup.compression`` is written and read back.

Two families. ``gzip-*``, ``lz4`` and ``zstd`` are pg_dump's own (``--compress``; the methods are PostgreSQL
16+): pg_restore reads the archive as it is stored. ``zstd-stream`` and ``lz4-stream`` let pg_dump write an
uncompressed archive (``-Z0``) and compress the whole stream on the host (``zstd -T0``: every core; pg_dump's
zlib is single-threaded and was the whole cost of a backup, bench/results/backup.json): the stored object is
then a zstd/lz4 frame around the archive, which the host decompresses before pg_restore reads it. The manifest
records the compression, so every reader (verify, test restore, restore, DR) knows which it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from freshtrack_ops.config import Compression, StoredCompression
from freshtrack_ops.errors import BackupCorrupt

#: the first bytes of a stored object: pg_dump's custom-format header, or the frame of the host's codec (zstd: RFC
#: 8878 3.1.1; lz4: the LZ4 frame format's magic number)
PG_DUMP_MAGIC = b"PGDMP"
CODEC_MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "lz4": b"\x04\x22\x4d\x18"}


@dataclass(frozen=True)
class CompressionMethod:
    #: pg_dump's ``--compress`` value ("" = pg_dump's default, gzip level 6)
    pg_dump_compress: str
    #: the host program that compresses the stream and decompresses it before pg_restore ("" = none)
    codec: str = ""
    #: the oldest pg_dump major version that writes it
    min_pg_dump_major: int = 0

    @property
    def magic(self) -> bytes:
        """How a stored object of this method starts."""
        return CODEC_MAGIC[self.codec] if self.codec else PG_DUMP_MAGIC


METHODS: dict[StoredCompression, CompressionMethod] = {
    "gzip-default": CompressionMethod(""),
    "gzip-1": CompressionMethod("1"),
    "lz4": CompressionMethod("lz4", min_pg_dump_major=16),
    "zstd": CompressionMethod("zstd", min_pg_dump_major=16),
    "zstd-stream": CompressionMethod("0", codec="zstd"),
    "lz4-stream": CompressionMethod("0", codec="lz4"),
}
assert set(METHODS) == set(get_args(StoredCompression)), "every StoredCompression needs a method"
_BY_NAME: dict[str, CompressionMethod] = {str(name): method for name, method in METHODS.items()}


#: what ``auto`` becomes: the host-compressed stream where the host has zstd, pg_dump's own gzip where it has not
AUTO_PREFERRED: StoredCompression = "zstd-stream"
AUTO_FALLBACK: StoredCompression = "gzip-default"


def resolve(setting: Compression, host_codecs: list[str]) -> StoredCompression:
    """The compression a dump uses: the setting, or for ``auto`` the best one this host can write."""
    if setting != "auto":
        return setting
    return AUTO_PREFERRED if METHODS[AUTO_PREFERRED].codec in host_codecs else AUTO_FALLBACK


def dump_env(compression: StoredCompression) -> dict[str, str]:
    """The host parameters of a dump with this compression."""
    method = METHODS[compression]
    return {"PG_DUMP_COMPRESS": method.pg_dump_compress, "ARCHIVE_CODEC": method.codec}


def archive_codec(compression: str, backup_id: str) -> str:
    """The codec a stored object with this (manifest) compression needs; an unknown one cannot be read."""
    method = _BY_NAME.get(compression)
    if method is None:
        known = ", ".join(METHODS)
        raise BackupCorrupt(f"{backup_id}: compression: unknown (got {compression!r}; this version reads {known})")
    return method.codec


def read_env(compression: str, backup_id: str) -> dict[str, str]:
    """The host parameters of a script that reads an archive with this (manifest) compression."""
    return {"ARCHIVE_CODEC": archive_codec(compression, backup_id)}
