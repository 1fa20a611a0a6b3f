"""The webhook bridge: the local plane's stand-in for the API Gateway HTTP API in front of the AlertWebhook function.

A ``ThreadingHTTPServer`` on 127.0.0.1 turns each request into the event API Gateway's Lambda proxy integration
sends (payload format version 2.0: ``version``, ``routeKey``, ``rawPath``, ``rawQueryString``, ``cookies``,
``headers`` with lower-cased names and repeated ones joined by commas, ``queryStringParameters``, ``body``,
``isBase64Encoded``, ``requestContext``), calls the function and writes its answer back as API Gateway does:
a ``{"statusCode", "headers", "body", "isBase64Encoded", "cookies"}`` object is the response, anything else is
a 200 with the JSON of it, and a failed invocation is ``500 {"message":"Internal Server Error"}``.

Routes: ``POST /alertmanager`` and ``POST /grafana`` (``ROUTES``); any other method or path is API Gateway's
``404 {"message":"Not Found"}`` without an invocation. API Gateway's own request limit is enforced before the
function sees anything: a body above 10 MB is ``413 {"message":"Request Entity Too Large"}`` (HTTP API quota
"payload size", 10 MB). A body that is valid UTF-8 is passed as text (``isBase64Encoded: false``), any other
body base64-encoded, as API Gateway does for binary payloads.

The function runs in this process, inside the plane's moto (``mock_aws`` patches botocore globally, so its boto3
calls reach the plane's moto from the bridge's threads): by default through the plane's Lambda routing
(``lambda_invoker``: its role's IAM policy enforced, its timeout, its context), or any ``Invoke`` a test injects.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

#: event -> (response payload, whether the invocation failed)
Invoke = Callable[[dict[str, Any]], tuple[Any, bool]]

ROUTES = frozenset({"/alertmanager", "/grafana"})
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
DISCARD_LIMIT = 64 * 1024 * 1024
API_ID = "local"
DOMAIN = f"{API_ID}.execute-api.localhost"


def lambda_invoker(task: str) -> Invoke:
    """Invoke the plane's function of ``task`` (a ``TASKS`` name) as API Gateway's integration does."""
    from opsctl.local import moto_patches
    from opsctl.local.names import function_arn, function_name

    def invoke(event: dict[str, Any]) -> tuple[Any, bool]:
        payload, failed = moto_patches.invoke_in_process(function_name(task), function_arn(task), json.dumps(event))
        return json.loads(payload) if payload else None, failed

    return invoke


def handler_invoker(handler: Callable[[dict[str, Any], Any], Any]) -> Invoke:
    """Call ``handler(event, context)`` directly (tests: a fake handler instead of the deployed function)."""
    from opsctl.local.moto_patches import LocalLambdaContext

    def invoke(event: dict[str, Any]) -> tuple[Any, bool]:
        context = LocalLambdaContext(function_name="AlertWebhook", invoked_function_arn="local")
        try:
            return handler(event, context), False
        except Exception as exc:  # an unhandled error is the function's failure, as Lambda reports it
            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}, True

    return invoke


def make_event(
    *, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The payload format 2.0 event of one request."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    cookies = [c.strip() for c in joined.pop("cookie", "").split(";") if c.strip()]
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        event["body"] = text
    return event


def http_response(result: Any, failed: bool) -> tuple[int, dict[str, str], bytes]:
    """What API Gateway answers for the function's result (payload format 2.0)."""
    if failed:
        return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        if result.get("cookies"):
            headers["set-cookie"] = ", ".join(str(c) for c in result["cookies"])
        return int(result["statusCode"]), headers, data
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


class WebhookBridge:
    def __init__(self, invoke: Invoke, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.invoke = invoke
        self.max_payload_bytes = max_payload_bytes
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._in_flight = 0
        #: (path, status) of every request answered, in order
        self.answered: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("webhook bridge not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> str:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                bridge._handle(self)

            # other methods reach API Gateway too, and get its 404 (no route)
            def do_GET(self) -> None:
                bridge._handle(self)

            def do_PUT(self) -> None:
                bridge._handle(self)

            def do_DELETE(self) -> None:
                bridge._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ft-webhook-bridge", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_idle(self, timeout_s: float) -> bool:
        """Until no request is being handled; False when one still is after ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout_s)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._cond:
            self._in_flight += 1
        try:
            status, headers, data = self._answer(request)
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("content-length", str(len(data)))
            request.send_header("apigw-requestid", str(uuid.uuid4()))
            request.end_headers()
            request.wfile.write(data)
            self.answered.append((request.path.split("?")[0], status))
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    @staticmethod
    def _discard(request: BaseHTTPRequestHandler, length: int) -> None:
        """Read a refused body away (up to ``DISCARD_LIMIT``), so the client, still sending, reads the 413 instead
        of a reset connection; past the limit the connection is closed."""
        left = min(length, DISCARD_LIMIT)
        while left > 0:
            chunk = request.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
        request.close_connection = True

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        path, _, query = request.path.partition("?")
        json_type = {"content-type": "application/json"}
        length = int(request.headers.get("Content-Length") or 0)
        if length > self.max_payload_bytes:
            self._discard(request, length)
            return 413, json_type, b'{"message":"Request Entity Too Large"}'
        body = request.rfile.read(length) if length else b""
        if request.command != "POST" or path not in ROUTES:
            return 404, json_type, b'{"message":"Not Found"}'
        event = make_event(
            method=request.command,
            path=path,
            query=query,
            headers=list(request.headers.items()),
            body=body,
            source_ip=str(request.client_address[0]),
        )
        result, failed = self.invoke(event)
        return http_response(result, failed)
