"""The local plane's S3 as an HTTP endpoint, so the local host's curl can use presigned URLs.

moto's ``mock_aws`` serves S3 to boto3 inside this process only. ``LocalS3Endpoint`` runs moto's HTTP
server (the ``ThreadedMotoServer`` app: ``DomainDispatcherApplication(create_backend_app)`` on werkzeug) on
``127.0.0.1`` in a thread of the same process. It answers from moto's module-level backends, the very ones
``mock_aws`` uses: a multipart upload created with boto3 under ``mock_aws`` takes parts PUT by curl through
the endpoint, and the completed object is visible to boto3 again. Start it inside ``mock_aws`` (which
resets the backends when it starts and stops).

moto accepts any presigned URL, expired or tampered. Real S3 does not, so the endpoint checks what S3
checks before moto sees the request: a request carrying ``X-Amz-Signature`` must be a valid SigV4 query
signature of the endpoint's own access key and not be expired (``X-Amz-Date`` + ``X-Amz-Expires``), else
403 ``AccessDenied`` / ``SignatureDoesNotMatch`` / ``InvalidAccessKeyId``, as S3 answers. A URL also dies
with the temporary credentials that signed it, whatever its expiry says (AWS knowledge center,
"presigned-url-s3-bucket-expiration": "If you created a presigned URL using a temporary token, then the URL
expires when the token expires"): ``issue_credentials(lifetime_s)`` hands out such credentials, and a URL
they signed is refused with 400 ``ExpiredToken`` once they have expired.
403 ``AccessDenied`` / ``SignatureDoesNotMatch`` / ``InvalidAccessKeyId``, as S3 answers. Only the headers
named in ``X-Amz-SignedHeaders`` are signed: S3 requires ``host`` and every ``x-amz-*`` header the request
carries to be among them (S3 API reference, "Authenticating Requests: Using Query Parameters (AWS Signature
Version 4)", X-Amz-SignedHeaders) and answers an unsigned ``x-amz-*`` header with 403 ``AccessDenied``
"There were headers present in the request which were not signed" (quoted in
github.com/awslabs/aws-sdk-rust/issues/1253); other headers (``Content-MD5``, ``Content-Type``) may be sent
unsigned. So a presigned part URL can carry a ``Content-MD5`` computed after signing, never an
``x-amz-checksum-*`` value.

Uploads through the endpoint follow S3's integrity rules (``s3_strict``, installed by ``start``): under Object
Lock every PutObject/UploadPart needs ``Content-MD5`` or an ``x-amz-checksum-*`` value (400 ``InvalidRequest``),
and a ``Content-MD5`` must match the body (400 ``BadDigest``).

``presign_client()`` is the boto3 S3 client to presign with (endpoint ``http://127.0.0.1:<port>``,
path-style, SigV4, the endpoint's key). Request lines are not logged: presigned URLs are credentials.

Needs ``flask`` and ``flask-cors`` (moto's ``server`` extra).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

import boto3
from botocore.config import Config

from opsctl.local import faults, s3_strict
from opsctl.local.moto_http import QuietServer, moto_app

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: the endpoint's own credentials (the local plane's presigning identity; never a real key)
LOCAL_ACCESS_KEY = "AKIALOCALS3ENDPOINT0"
LOCAL_SECRET_KEY = "local-s3-endpoint-secret-not-a-real-key"  # noqa: S105 - a fixed local test key

_SIGV4 = "AWS4-HMAC-SHA256"
#: S3 answers these with 400, the other refusals with 403
_BAD_REQUEST_CODES = frozenset({"ExpiredToken", "AuthorizationQueryParametersError"})
_SAFE = "-_.~"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def check_presigned(
    method: str,
    raw_path: str,
    query: str,
    *,
    headers: dict[str, str],
    secrets: dict[str, str],
    now: float,
    credentials_expire: Mapping[str, float] | None = None,
) -> tuple[str, str] | None:
    """None if the request has no query signature or a valid, unexpired one; else (S3 error code, message).

    ``raw_path`` is the path as sent (still percent-encoded), ``query`` the raw query string, ``headers``
    lower-cased names -> values."""
    pairs = [(unquote(k), unquote(v)) for k, _, v in (item.partition("=") for item in query.split("&") if item)]
    if "X-Amz-Signature" not in dict(pairs):
        return None
    try:
        _verify(method, raw_path, pairs, headers=headers, secrets=secrets, now=now)
        access_key = dict(pairs)["X-Amz-Credential"].split("/")[0]
        if credentials_expire and now > credentials_expire.get(access_key, float("inf")):
            raise _Refused("ExpiredToken", "The provided token has expired.")
    except _Refused as refused:
        return refused.code, refused.message
    return None


def _verify(
    method: str,
    raw_path: str,
    pairs: list[tuple[str, str]],
    *,
    headers: dict[str, str],
    secrets: dict[str, str],
    now: float,
) -> None:
    params = dict(pairs)
    try:
        if params["X-Amz-Algorithm"] != _SIGV4:
            raise _Refused("AuthorizationQueryParametersError", "only AWS4-HMAC-SHA256 is supported")
        access_key, date, region, service, terminator = params["X-Amz-Credential"].split("/")
        amz_date, expires = params["X-Amz-Date"], int(params["X-Amz-Expires"])
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except (KeyError, ValueError) as exc:
        raise _Refused("AuthorizationQueryParametersError", "malformed query authentication") from exc
    secret = secrets.get(access_key)
    if secret is None:
        raise _Refused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    if now > signed_at.timestamp() + expires:
        raise _Refused("AccessDenied", "Request has expired")
    if any(name.startswith("x-amz-") and name not in signed_headers for name in headers):
        raise _Refused("AccessDenied", "There were headers present in the request which were not signed")
    canonical_query = "&".join(
        f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in sorted(pairs) if k != "X-Amz-Signature"
    )
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, canonical_headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join([_SIGV4, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), terminator)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise _Refused(
            "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
        )


class _PresignCheck:
    """WSGI middleware: refuse an expired or badly signed presigned request before moto answers it."""

    def __init__(
        self, app: WsgiApp, secrets: dict[str, str], clock: Callable[[], float], credentials_expire: dict[str, float]
    ) -> None:
        self._app = app
        self._secrets = secrets
        self._clock = clock
        self._credentials_expire = credentials_expire
        self.refused: list[str] = []  # error codes, in order (tests read them)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        headers = {
            key[5:].lower().replace("_", "-"): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        error = check_presigned(
            str(environ.get("REQUEST_METHOD", "GET")),
            raw_uri.split("?", 1)[0],
            str(environ.get("QUERY_STRING", "")),
            headers=headers,
            secrets=self._secrets,
            now=self._clock(),
            credentials_expire=self._credentials_expire,
        )
        status = "400 Bad Request"
        if error is None:
            method = str(environ.get("REQUEST_METHOD", "GET"))
            query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
            fault = faults.TRANSFERS.find(method, query)
            if fault is None:
                return self._app(environ, start_response)
            error = (fault.code, "injected fault")
            status = f"{fault.status} {HTTPStatus(fault.status).phrase}"
        elif error[0] not in _BAD_REQUEST_CODES:
            status = "403 Forbidden"
        code, message = error
        self.refused.append(code)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
        ).encode()
        # drain the request body (a refused PUT) so the client sees the answer, not a reset connection
        stream = environ.get("wsgi.input")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        while stream is not None and length > 0 and (chunk := stream.read(min(length, 1 << 20))):
            length -= len(chunk)
        start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]


class LocalS3Endpoint:
    """moto's S3 on ``http://127.0.0.1:<port>`` (port 0: a free one), sharing ``mock_aws``'s backends."""

    def __init__(
        self,
        *,
        port: int = 0,
        region: str = "us-east-1",
        clock: Callable[[], float] = time.time,
        extra_secrets: Mapping[str, str] | None = None,
    ) -> None:
        """``extra_secrets``: more access key -> secret key pairs whose signatures are accepted (the local
        plane's own credentials, which its Lambda tasks presign with)."""
        self.region = region
        self._secrets = {LOCAL_ACCESS_KEY: LOCAL_SECRET_KEY} | dict(extra_secrets or {})
        self._port = port
        self._clock = clock
        self._server = QuietServer("local-s3-endpoint")
        self._check: _PresignCheck | None = None
        #: access key -> when it expires (temporary credentials from ``issue_credentials``)
        self._credentials_expire: dict[str, float] = {}
        self._issued = 0

    def start(self) -> LocalS3Endpoint:
        s3_strict.install()
        self._check = _PresignCheck(moto_app(), self._secrets, self._clock, self._credentials_expire)
        self._server.start(self._check, self._port)
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def refused(self) -> list[str]:
        """S3 error codes of the presigned requests refused so far."""
        return list(self._check.refused) if self._check is not None else []

    def issue_credentials(self, lifetime_s: float) -> tuple[str, str]:
        """New temporary (access key, secret key) whose signatures are accepted for ``lifetime_s`` seconds,
        like a role session's: URLs they signed then fail with ExpiredToken."""
        self._issued += 1
        access_key = f"ASIALOCAL{self._issued:011d}"
        secret = f"local-temporary-secret-{self._issued}"
        self._secrets[access_key] = secret
        self._credentials_expire[access_key] = self._clock() + lifetime_s
        return access_key, secret

    def presign_client(self) -> S3Client:
        """A boto3 S3 client whose presigned URLs point at this endpoint (and pass its signature check).

        Under ``mock_aws`` its API calls are served in-process like any other client's."""
        client: S3Client = boto3.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        return client

    def __enter__(self) -> LocalS3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_s3_endpoint(
    *, port: int = 0, region: str = "us-east-1", clock: Callable[[], float] = time.time
) -> Iterator[LocalS3Endpoint]:
    """Run a ``LocalS3Endpoint`` for the duration of the block (inside ``mock_aws``)."""
    endpoint = LocalS3Endpoint(port=port, region=region, clock=clock).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
