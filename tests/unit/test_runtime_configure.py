"""runtime.configure: explicit settings (the local plane's) win over the environment until configure(None)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from freshtrack_ops import runtime
from freshtrack_ops.errors import ConfigError

ENVIRONMENT = {"BACKUP_BUCKET": "env-bucket", "OPS_TABLE": "env-table", "TARGETS_PARAMETER": "/env/targets"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    runtime.configure(None)
    runtime.reset()
    yield
    runtime.configure(None)
    runtime.reset()


def configured(bucket: str) -> runtime.Settings:
    return runtime.Settings(backup_bucket=bucket, ops_table="plane-table", targets_parameter="/plane/targets")


@pytest.mark.usefixtures("environment")
def test_the_environment_is_read_when_nothing_is_configured() -> None:
    assert runtime.settings().backup_bucket == "env-bucket"
    assert runtime.settings() is runtime.settings()  # validated once


@pytest.mark.usefixtures("environment")
def test_configured_settings_win_until_configure_none(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.configure(configured("plane-bucket"))
    monkeypatch.setenv("BACKUP_BUCKET", "changed-env-bucket")
    runtime.reset()  # forgets caches, not the configured settings
    assert runtime.settings().backup_bucket == "plane-bucket"
    assert runtime.settings().ops_table == "plane-table"
    runtime.configure(None)
    assert runtime.settings().backup_bucket == "changed-env-bucket"


@pytest.mark.usefixtures("environment")
def test_configure_never_touches_the_environment() -> None:
    before = dict(os.environ)
    runtime.configure(configured("plane-bucket"))
    assert dict(os.environ) == before


def test_an_invalid_environment_is_a_config_error_only_when_nothing_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BACKUP_BUCKET", raising=False)
    runtime.reset()
    try:
        runtime.configure(configured("plane-bucket"))
        assert runtime.settings().backup_bucket == "plane-bucket"
        runtime.configure(None)
        with pytest.raises(ConfigError, match="function environment"):
            runtime.settings()
    finally:
        runtime.configure(None)
        runtime.reset()


@pytest.mark.usefixtures("environment")
def test_threads_see_whole_settings_while_they_change() -> None:
    """Readers in other threads (executions run in threads) see one Settings or the other, never a mix."""
    first, second = configured("bucket-one"), configured("bucket-two")
    runtime.configure(first)
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(id(runtime.settings()))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for _ in range(200):
        runtime.configure(second)
        runtime.configure(first)
    stop.set()
    for reader in readers:
        reader.join()
    assert seen <= {id(first), id(second)}
