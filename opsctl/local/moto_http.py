"""moto's HTTP API served from this process (its backends are the ones ``mock_aws`` uses here), quietly.

Both the S3 endpoint the local hosts' curl reaches and the background plane's endpoint for every service serve
moto's WSGI app (or a checking wrapper of it) on 127.0.0.1 from a werkzeug server thread. Neither logs request
lines: a request line can carry a presigned URL, which is a credential."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def moto_app() -> Callable[..., Any]:
    """moto's dispatcher for every service (``ThreadedMotoServer``'s app), over this process's backends."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app: Callable[..., Any] = DomainDispatcherApplication(create_backend_app)
    return app


class QuietServer:
    """A WSGI app on ``http://127.0.0.1:<port>`` (0: a free one) in a daemon thread named ``name``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, app: Callable[..., Any], port: int = 0) -> int:
        """Serve ``app``; the port it listens on."""
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        class _QuietHandler(MotoRequestHandler):
            def log_request(self, *_args: Any, **_kwargs: Any) -> None:
                """No request lines: they would log presigned URLs."""

        self._server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self.port

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return int(self._server.server_address[1])

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
