"""A leak fails the plane when it stops (issue 17; docs/architecture.md "Secrets scan"): secrets of the run planted in
each kind of place are reported by kind, origin and place, never quoted. Its own plane (one plane per process at a
time: not in a module whose fixture plane is running)."""

from __future__ import annotations

import contextlib
import json
import shlex
from pathlib import Path

import paramiko
import pytest

from freshtrack_ops import runtime
from freshtrack_ops.observability import logger
from opsctl.local.plane import LocalPlane
from opsctl.local.secrets_scan import (
    CHAT_MESSAGE,
    DATABASE_PASSWORD,
    DYNAMODB_ITEM,
    HISTORY,
    JWT_SECRET,
    LAMBDA_RESPONSE,
    LOG_LINE,
    NOTIFICATION,
    PRESIGNED_URL,
    RESULTS_DIR_ENV,
    S3_KEY,
    SSH_COMMAND,
    SSH_PRIVATE_KEY,
    SSM_PARAMETERS,
    WEBHOOK_TOKEN,
    SecretLeak,
)
from opsctl.local.sshd import available as sshd_available

pytestmark = pytest.mark.integration


def test_a_leak_in_any_place_fails_the_plane_when_it_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets of the run planted in a history (and the refusing Lambda's answer), a log line, a notification (and so
    a chat message), an object key, a DynamoDB item, an SSM command's parameters and an SSH command line: the plane's
    stop raises SecretLeak naming each (kind, origin, place) and quoting none, and its results file says the same."""
    if not sshd_available():
        pytest.fail("the integration tests need OpenSSH's sshd (make sysdeps installs it)")
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path))  # this plane's results are this test's, not the session's
    values: list[str] = []
    planted = False
    with (
        pytest.raises(SecretLeak) as caught,
        LocalPlane(hosts=("demo",), ssm_hosts=(), readings=100, use_sshd=True, chat=True) as plane,
    ):
        host = plane.host("demo")
        password = (host.app_dir / "secrets" / "postgres_password.txt").read_text().strip()
        jwt = (host.app_dir / "secrets" / "jwt_secret.txt").read_text().strip()
        key_line = host.ssh_private_key.strip().splitlines()[2]
        token = plane.webhook("alertmanager")[1]["Authorization"].removeprefix("Bearer ")
        url = runtime.presigner().generate_presigned_url(
            "get_object", Params={"Bucket": plane.bucket, "Key": "backups/demo/x.dump"}, ExpiresIn=60
        )
        values += [password, jwt, key_line, token, url.split("X-Amz-Signature=", 1)[1]]

        refused = plane.run("backup", {"host": "demo", "unexpected": password})  # the input is in the history
        assert refused.status == "FAILED", refused.error
        logger.warning("planted", extra={"jwt": jwt})
        plane.client("sns").publish(TopicArn=plane.topic_arn, Subject="planted", Message=f"token {token}")
        plane.s3.put_object(Bucket=plane.bucket, Key=f"reports/planted/{password}.txt", Body=b"x")
        plane.dynamodb.put_item(
            TableName=plane.table, Item={"pk": {"S": "planted"}, "sk": {"S": "1"}, "url": {"S": url}}
        )
        plane.client("ssm").send_command(
            InstanceIds=["i-0123456789abcdef0"],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": [f"echo {key_line}"]},
        )
        with contextlib.suppress(paramiko.SSHException):  # recorded as sent, then refused: the channel is not open
            paramiko.Channel(1).exec_command(f"env PGPASSWORD={shlex.quote(password)} psql")
        plane.wait_idle()
        planted = True
    assert planted, "every leak was planted (the SecretLeak is not that of a failed block)"

    report = caught.value.report
    found = {(hit.kind, hit.category) for hit in report.hits}
    assert {
        (DATABASE_PASSWORD, HISTORY),
        (JWT_SECRET, LOG_LINE),
        (WEBHOOK_TOKEN, NOTIFICATION),
        (WEBHOOK_TOKEN, CHAT_MESSAGE),
        (DATABASE_PASSWORD, S3_KEY),
        (PRESIGNED_URL, DYNAMODB_ITEM),
        (SSH_PRIVATE_KEY, SSM_PARAMETERS),
        (DATABASE_PASSWORD, SSH_COMMAND),
        (DATABASE_PASSWORD, LAMBDA_RESPONSE),  # the refused input, quoted by the validation's error
    } <= found, found
    origins = {hit.origin for hit in report.hits}
    assert "host demo: secrets/postgres_password.txt" in origins
    assert "presigned GetObject of http" in " ".join(origins)
    message = str(caught.value)
    results = "".join(path.read_text() for path in tmp_path.glob("plane-*.json"))
    assert "LEAK: database password (host demo: secrets/postgres_password.txt) in S3 object key:" in message
    for value in values:
        assert value not in message and value not in results, "a failure never quotes a secret"
    assert json.loads(results)["hits"] == [hit.describe() for hit in report.hits]
