"""Reading a backup (S3BackupStore.iter_chunks): S3's answers become the errors the restore workflows name."""

from __future__ import annotations

import io
from typing import IO, cast

import boto3
import pytest
from botocore.exceptions import ClientError, ResponseStreamingError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from freshtrack_ops.adapters.s3_store import S3BackupStore
from freshtrack_ops.errors import BackupNotFound, DownloadFailed

KEY = "backups/demo/x.dump"


def _store() -> tuple[S3BackupStore, Stubber]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return S3BackupStore(client, "bucket"), Stubber(client)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [("SlowDown", 503, DownloadFailed), ("InternalError", 500, DownloadFailed), ("ServiceUnavailable", 503,
     DownloadFailed), ("RequestTimeout", 400, DownloadFailed), ("NoSuchKey", 404, BackupNotFound),
     ("AccessDenied", 403, ClientError), ("KMS.DisabledException", 400, ClientError)],
)  # fmt: skip
def test_a_refused_read_is_named_by_whether_another_read_may_succeed(
    code: str, status: int, expected: type[Exception]
) -> None:
    store, stub = _store()
    stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
    with stub, pytest.raises(expected) as raised:
        list(store.iter_chunks(KEY, 4))
    assert code in str(raised.value) or expected is BackupNotFound
    assert f"s3://bucket/{KEY}" in str(raised.value) or expected is ClientError


class _CutBody(io.RawIOBase):
    """A body whose connection is cut after ``after`` bytes."""

    def __init__(self, data: bytes, after: int) -> None:
        self._data, self._after, self._at = data, after, 0

    def read(self, size: int = -1) -> bytes:
        if self._at >= self._after:
            raise ResponseStreamingError(error="Connection broken: IncompleteRead")
        chunk = self._data[self._at : min(self._after, self._at + (size if size > 0 else len(self._data)))]
        self._at += len(chunk)
        return chunk


def test_a_body_cut_mid_read_is_download_failed_after_what_was_read() -> None:
    store, stub = _store()
    body = StreamingBody(cast("IO[bytes]", _CutBody(b"abcdefghij", after=8)), 10)
    stub.add_response("get_object", {"Body": body, "ContentLength": 10}, {"Bucket": "bucket", "Key": KEY})
    chunks: list[bytes] = []
    with stub, pytest.raises(DownloadFailed, match="after 8 bytes: ResponseStreamingError"):
        for chunk in store.iter_chunks(KEY, 4):
            chunks.append(chunk)
    assert b"".join(chunks) == b"abcdefgh"


def test_a_whole_body_is_read_in_chunks() -> None:
    store, stub = _store()
    body = StreamingBody(io.BytesIO(b"abcdefghij"), 10)
    stub.add_response("get_object", {"Body": body, "ContentLength": 10}, {"Bucket": "bucket", "Key": KEY})
    with stub:
        assert list(store.iter_chunks(KEY, 4)) == [b"abcd", b"efgh", b"ij"]
