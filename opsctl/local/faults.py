"""Injected AWS faults: an API call answered with the error AWS would send (throttling, 5xx, a refused request).

The fault matrix (tests/faults) needs S3, DynamoDB, SNS, Route 53 ... to fail the way the real services do, at
the HTTP level, so that botocore's own retry handler sees them exactly as it would in AWS: a ``SlowDown`` 503 from
S3 or a ``ProvisionedThroughputExceededException`` from DynamoDB is retried by the SDK (botocore 1.44's default
standard mode: 3 attempts, 4 for DynamoDB, with exponential back-off; tests/faults counts them) before the task sees
an error; a ``ConditionalCheckFailedException`` is not. Raising
``ClientError`` from ``_make_api_call`` instead would skip those retries and test a client no deployed task has.

How: moto serves every in-process call from its ``before-send`` handler (``BotocoreStubber``); that handler's
``__call__`` is wrapped once (``install``) so that a call matching an armed ``ApiFault`` gets the fault's error
response *instead of* (``when="before"``: nothing happened in the service) or *after* (``when="after"``: the
call took effect but its answer was lost, e.g. an SNS publish that was delivered yet reported a 500) moto's.
Faults are armed for a number of matching calls (``times``) or until disarmed; each hit is counted.

The host's presigned transfers (curl against the local S3 endpoint) are faulted by ``TransferFault`` in the
endpoint's middleware (``s3_endpoint``), answered before moto sees the request.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

F = TypeVar("F", bound="Faultlike")

#: each service's error format (botocore parses the error code from a different place per protocol); a fault for
#: a service not listed is refused when it is armed, not silently answered in a format botocore cannot read
PROTOCOLS = {
    "s3": "s3-xml",
    "route-53": "xml",
    "sns": "query",
    "sts": "query",
    "ec2": "ec2",
    "dynamodb": "json",
    "sfn": "json",
    "ssm": "json",
    "secrets-manager": "json",
    "lambda": "rest-json",
    "scheduler": "rest-json",
}

#: the HTTP status AWS sends with these codes (others: 400)
STATUS = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "ServiceException": 500,
    "Throttling": 400,
    "ThrottlingException": 400,
    "ThrottledException": 400,
    "TooManyRequestsException": 429,
    "PriorRequestNotComplete": 400,
    # a server error (EC2 API reference, "Error codes for the Amazon EC2 API": server error codes, HTTP 5xx; the
    # SDKs retry it, the CLI reports "reached max retries"), not a 400 as other EC2 codes
    "InsufficientInstanceCapacity": 500,
}


@dataclass
class ApiFault:
    """Calls of ``service`` (botocore's hyphenated service id: ``s3``, ``dynamodb``, ``route-53``) ``operation``
    (``PutObject``; ``*`` any) answer ``code``; ``times`` matching calls (None: all until disarmed). ``matches``
    narrows by the request (e.g. its body names a table or a key)."""

    service: str
    operation: str
    code: str
    times: int | None = 1
    when: str = "before"
    message: str = "injected fault"
    matches: Callable[[AWSPreparedRequest], bool] | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        if self.service not in PROTOCOLS:
            raise ValueError(f"service: no error format known for it (got {self.service!r})")
        if self.when not in ("before", "after"):
            raise ValueError(f"when: 'before' or 'after' (got {self.when!r})")

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)

    def take(self, service: str, operation: str, request: AWSPreparedRequest) -> bool:
        """Whether this call is faulted (and count it)."""
        if service != self.service or self.operation not in ("*", operation):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        if self.matches is not None and not self.matches(request):
            return False
        self.hits += 1
        return True


class Faultlike(Protocol):
    def take(self, *args: Any) -> bool: ...


class _Armed(Generic[F]):
    """The faults armed now, of one kind; the first that takes a request answers it."""

    def __init__(self) -> None:
        self.faults: list[F] = []
        self.lock = threading.Lock()

    def find(self, *request: Any) -> F | None:
        with self.lock:
            return next((f for f in self.faults if f.take(*request)), None)

    @contextlib.contextmanager
    def arming(self, faults: tuple[F, ...]) -> Iterator[tuple[F, ...]]:
        with self.lock:
            self.faults.extend(faults)
        try:
            yield faults
        finally:
            with self.lock:
                for fault in faults:
                    self.faults.remove(fault)


ARMED: _Armed[ApiFault] = _Armed()
_installed = False


def error_body(fault: ApiFault) -> tuple[dict[str, str], bytes]:
    """Headers and body of the error response in the service's protocol."""
    protocol = PROTOCOLS[fault.service]
    code, message = fault.code, fault.message
    if protocol == "json":
        return {"Content-Type": "application/x-amz-json-1.0"}, json.dumps({"__type": code, "message": message}).encode()
    if protocol == "rest-json":
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        return headers, json.dumps({"message": message}).encode()
    if protocol == "s3-xml":
        return {"Content-Type": "application/xml"}, (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
    if protocol == "ec2":
        return {"Content-Type": "text/xml"}, (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors></Response>"
        ).encode()
    kind = "Receiver" if fault.status >= 500 else "Sender"
    return {"Content-Type": "text/xml"}, (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>injected</RequestId></ErrorResponse>"
    ).encode()


class _Raw:
    """The raw body botocore reads an error response from (``AWSResponse.content`` reads ``raw.stream()``)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(request: AWSPreparedRequest, fault: ApiFault) -> AWSResponse:
    headers, body = error_body(fault)
    return AWSResponse(request.url, fault.status, headers | {"Content-Length": str(len(body))}, _Raw(body))  # type: ignore[arg-type]


def _faulted(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Any, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> Any:
        if not ARMED.faults:
            return original(self, event_name, request, **kwargs)
        _, service, operation = [*event_name.split(".", 2), "", ""][:3]
        fault = ARMED.find(service, operation, request)
        if fault is None:
            return original(self, event_name, request, **kwargs)
        if fault.when == "after":
            original(self, event_name, request, **kwargs)
        return _response(request, fault)

    return call


def install() -> None:
    """Wrap moto's request handler once (idempotent); no fault is armed until ``armed`` is used."""
    global _installed  # noqa: PLW0603 - one patch per process
    if _installed:
        return
    from moto.core.botocore_stubber import BotocoreStubber

    BotocoreStubber.__call__ = _faulted(BotocoreStubber.__call__)  # type: ignore[method-assign]
    _installed = True


@contextlib.contextmanager
def armed(*faults: ApiFault) -> Iterator[tuple[ApiFault, ...]]:
    """Within the block, matching calls answer the faults' errors; the faults (with their ``hits``) are yielded."""
    install()
    with ARMED.arming(faults):
        yield faults


@dataclass
class TransferFault:
    """Presigned requests to the local S3 endpoint with ``method`` whose query has all of ``query`` (e.g.
    ``{"partNumber": "2"}``: the second part of a multipart upload) answer ``code`` with ``status``, ``times``
    of them (None: all until disarmed)."""

    method: str
    code: str = "InternalError"
    status: int = 500
    query: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    hits: int = 0

    def take(self, method: str, query: dict[str, str]) -> bool:
        if method != self.method or any(query.get(k) != v for k, v in self.query.items()):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


TRANSFERS: _Armed[TransferFault] = _Armed()


@contextlib.contextmanager
def transfers_armed(*faults: TransferFault) -> Iterator[tuple[TransferFault, ...]]:
    """Within the block, the host's matching presigned transfers are refused with the faults' errors."""
    with TRANSFERS.arming(faults):
        yield faults
