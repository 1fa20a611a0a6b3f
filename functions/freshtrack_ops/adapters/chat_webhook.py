"""``ChatWebhook`` over ``http.client`` (the standard library: no dependency, and nothing here logs).

Why not urllib3 or ``urllib.request``: urllib3 logs each request's path at DEBUG (``connectionpool``: method, path,
status), and the path is the credential; ``urllib.request`` follows redirects, and an answer pointing elsewhere
must not receive the message. ``http.client`` sends exactly one request and logs nothing.

X-Ray: the Tracer patches botocore only (``observability.PATCHED_MODULES``), but were ``http.client`` patched by the
X-Ray SDK, it would record each request's URL without its query (``aws_xray_sdk.ext.httplib``: ``strip_url``) in
the trace, and Slack's secret is the path. The webhook's host is put on the SDK's ignore list
(``Tracer.ignore_endpoint``, by hostname), so requests to it would not be traced at all.
"""

from __future__ import annotations

import http.client
import ssl

from freshtrack_ops.chat.delivery import ChatUnreachable
from freshtrack_ops.chat.secret import WebhookUrl
from freshtrack_ops.observability import tracer

USER_AGENT = "freshtrack-ops-chat/1"


class HttpChatWebhook:
    def __init__(self, url: WebhookUrl, *, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s
        tracer.ignore_endpoint(hostname=url.host)  # the URL's path is the credential: never in a trace

    def _connection(self) -> http.client.HTTPConnection:
        if self._url.scheme == "https":
            return http.client.HTTPSConnection(
                self._url.host, self._url.port, timeout=self._timeout_s, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._url.host, self._url.port, timeout=self._timeout_s)

    def post(self, body: bytes) -> tuple[int, str | None]:
        connection = self._connection()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        try:
            connection.request("POST", self._url.target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(4096)  # Slack answers "ok" or a short error code; the rest is not needed
            return response.status, response.getheader("Retry-After")
        except TimeoutError:
            raise ChatUnreachable(f"timed out after {self._timeout_s:g} s") from None
        except ssl.SSLError as exc:
            raise ChatUnreachable(f"TLS: {exc.reason or type(exc).__name__}") from None
        except (OSError, http.client.HTTPException) as exc:
            # OSError's text is its errno's ("Connection refused"); a socket.gaierror's the resolver's: no URL
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ChatUnreachable(str(reason)) from None
        finally:
            connection.close()


__all__ = ["HttpChatWebhook"]
