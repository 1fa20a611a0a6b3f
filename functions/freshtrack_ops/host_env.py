"""The environment every host script receives for a target (the only way parameters reach the host)."""

from __future__ import annotations

from freshtrack_ops.config import Compression, Target

_PG_DUMP_COMPRESS: dict[Compression, str] = {"gzip-default": "", "gzip-1": "1", "lz4": "lz4", "zstd": "zstd"}


def host_env(target: Target) -> dict[str, str]:
    return {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "PG_SERVICE": target.postgres_service,
        "DB_NAME": target.database,
        "DB_ROLE": target.db_role,
    }


def dump_env(target: Target) -> dict[str, str]:
    return host_env(target) | {"PG_DUMP_COMPRESS": _PG_DUMP_COMPRESS[target.backup.compression]}
