"""The environment every host script receives for a target (the only way parameters reach the host)."""

from __future__ import annotations

from freshtrack_ops.backup import compression
from freshtrack_ops.config import StoredCompression, Target


def host_env(target: Target) -> dict[str, str]:
    return {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "PG_SERVICE": target.postgres_service,
        "DB_NAME": target.database,
        "DB_ROLE": target.db_role,
    }


def dump_env(target: Target, stored: StoredCompression) -> dict[str, str]:
    """The dump scripts' environment; ``stored``: the compression the preflight chose for this host."""
    return host_env(target) | compression.dump_env(stored)
