"""A Slack-compatible incoming webhook on 127.0.0.1: the local plane's chat (``LocalPlane(chat=True)``).

It takes ``POST <path>`` with a JSON body as Slack does (200 ``ok``; 404 ``no_service`` for another path, 400
``invalid_payload`` for a body that is no JSON object with a ``text``), records every message it took, and can be
told to answer the next N requests with another status (429 with a ``Retry-After``, 500, ...). The path is a random
token, as Slack's ``/services/...`` is: the URL is the credential, and the tests check that it shows up nowhere.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 1_000_000


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: str | None = None


@dataclass
class ChatReceiver:
    path: str = field(
        default_factory=lambda: f"/services/T{secrets.token_hex(4)}/B{secrets.token_hex(4)}/{secrets.token_urlsafe(18)}"
    )
    #: every message taken (the parsed JSON bodies), in order
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: (status answered) of every request, in order
    answers: list[int] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the chat receiver is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                status, body, headers = receiver._answer(self.path, self.rfile.read(length))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # the request line carries the path: never printed
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="chat-receiver").start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def fail_next(self, status: int, count: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After``), before any message is taken."""
        with self._lock:
            self._failures.append(_Failure(status, count, retry_after))

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.answers.clear()
            self._failures.clear()

    def _answer(self, path: str, raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            status, body, headers = self._decide(path, raw)
            self.answers.append(status)
            return status, body, headers

    def _decide(self, path: str, raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        if path != self.path:
            return 404, b"no_service", {}
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return failure.status, b"rate_limited" if failure.status == 429 else b"error", headers
        try:
            message = json.loads(raw)
        except ValueError:
            return 400, b"invalid_payload", {}
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return 400, b"invalid_payload", {}
        self.messages.append(message)
        return 200, b"ok", {}
