"""The S3 endpoint the hosts' curl uses, and the credentials the tasks presign its URLs with.

Every SSM transfer, and an SSH transfer too long for one invocation (a host job), moves the backup through
presigned URLs to S3 over HTTP on 127.0.0.1 (``s3_endpoint``), which checks their signatures. The tasks
presign with the plane's credentials, or, with a ``credential_lifetime_s``, with temporary ones renewed at
half their life as a role session is; the endpoint refuses URLs those signed once they have expired.
"""

from __future__ import annotations

import threading
import time

import boto3

from freshtrack_ops import runtime
from opsctl.local import secrets_sources
from opsctl.local.names import REGION
from opsctl.local.s3_endpoint import LocalS3Endpoint
from opsctl.local.secrets_scan import SESSION_SECRET


class PresignEndpoint:
    def __init__(self, credential_lifetime_s: float | None) -> None:
        self._lifetime_s = credential_lifetime_s
        self._endpoint: LocalS3Endpoint | None = None
        self._credentials: tuple[str, str, float] | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._endpoint is not None

    def start(self) -> str:
        """Start the endpoint (and the tasks' temporary credentials, if any); returns its URL."""
        credentials = boto3.session.Session().get_credentials()
        secrets = {credentials.access_key: credentials.secret_key} if credentials else {}
        self._endpoint = LocalS3Endpoint(region=REGION, extra_secrets=secrets).start()
        if self._lifetime_s is not None:
            runtime.set_presign_credentials(self._temporary_credentials)
        return self._endpoint.url

    def stop(self) -> None:
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None
        runtime.set_presign_credentials(None)

    def refusals(self) -> list[str]:
        """S3 error codes of every presigned request refused so far, in order."""
        return self._endpoint.refused if self._endpoint is not None else []

    def _temporary_credentials(self) -> tuple[str, str, str | None]:
        """The presigning credentials of the moment: renewed at half their life, like a role session's."""
        assert self._endpoint is not None and self._lifetime_s is not None
        with self._lock:
            now = time.time()
            if self._credentials is None or now > self._credentials[2] - self._lifetime_s / 2:
                key, secret = self._endpoint.issue_credentials(self._lifetime_s)
                secrets_sources.note(SESSION_SECRET, f"temporary presigning credentials {key}", secret)
                self._credentials = (key, secret, now + self._lifetime_s)
            key, secret, _ = self._credentials
            return key, secret, "local-session-token"
