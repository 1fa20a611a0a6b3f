"""Log lines lose whatever looks like a secret before they are stored or sent: ``redact_log_line`` on the control
plane, and the same rules in sed on the host (lib/redact.sh ``redact_lines``), so SSM's stored output of the
daily check holds no secret either."""

from __future__ import annotations

import subprocess
from importlib import resources

import pytest

from freshtrack_ops import host_scripts
from freshtrack_ops.redact import REDACTED, redact_log_line

#: (line, the secret in it, the line redacted)
SECRETS = [
    ("db connect password=hunter2 host=db", "hunter2", "db connect password=<redacted> host=db"),
    ("GET /x?DB_PASSWORD=s3cr3t&page=2", "s3cr3t", "GET /x?DB_PASSWORD=<redacted>&page=2"),
    ('{"user":"ana","password":"p\\"w d"}', 'p\\"w d', '{"user":"ana","password":"<redacted>"}'),
    ('{"api_key": "k-123-xyz","n":1}', "k-123-xyz", '{"api_key": "<redacted>","n":1}'),
    ("jwt token: abc.def.ghi expired", "abc.def.ghi", "jwt token: <redacted> expired"),
    ("apikey='two words'", "two words", "apikey='<redacted>'"),
    ("passwd = swordfish;", "swordfish", "passwd = <redacted>;"),
    ("JWT_SECRET=Zm9vYmFy", "Zm9vYmFy", "JWT_SECRET=<redacted>"),
    (
        '{"msg":"body {\\"secret\\":\\"inner-value\\"}"}',
        "inner-value",
        '{"msg":"body {\\"secret\\":\\"<redacted>\\"}"}',
    ),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "eyJhbGciOiJIUzI1NiJ9",
        "Authorization: Bearer <redacted>",
    ),
    (
        '{"headers":{"authorization":"Basic dXNlcjpwYXNzd29yZA=="}}',
        "dXNlcjpwYXNzd29yZA",
        '{"headers":{"authorization":"Basic <redacted>"}}',
    ),
    ("key AKIAIOSFODNN7EXAMPLE loaded", "AKIAIOSFODNN7EXAMPLE", "key <redacted> loaded"),
    (
        "pem -----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7\\n-----END RSA PRIVATE KEY----- done",
        "MIIEowIBAAKCAQEA7",
        "pem <redacted private key> done",
    ),
    ("cut -----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhki", "MIIEvQIBADANBgkqhki", "cut <redacted private key>"),
    (
        "connect postgres://frostguard:pa55w0rd@postgres:5432/frostguard failed",
        "pa55w0rd",
        "connect postgres://<redacted>@postgres:5432/frostguard failed",
    ),
]
#: lines with nothing secret in them stay as they are
PLAIN = [
    '{"level":40,"msg":"authentication failed for ana@example.com: invalid password"}',
    '{"msg":"invalid token","tokens":5,"secretary":"bob"}',
    "Basic plan renewed for bearer-less clients",
    '{"level":"info","logger":"http.log.access.log0","msg":"handled request","status":404}',
]


def host_redact(lines: list[str]) -> list[str]:
    """The host's redact_lines (GNU sed) over ``lines``."""
    library = resources.files(host_scripts).joinpath("lib/redact.sh").read_text(encoding="utf-8")
    proc = subprocess.run(
        ["bash", "-c", library + "\nredact_lines"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.splitlines()


@pytest.mark.parametrize(("line", "secret", "expected"), SECRETS)
def test_redact_log_line_removes_the_secret(line: str, secret: str, expected: str) -> None:
    redacted = redact_log_line(line)
    assert redacted == expected
    assert secret not in redacted
    assert redact_log_line(redacted) == redacted  # idempotent: the control plane redacts the host's output again


@pytest.mark.parametrize("line", PLAIN)
def test_lines_without_secrets_are_unchanged(line: str) -> None:
    assert redact_log_line(line) == line


def test_a_presigned_url_in_a_log_line_loses_its_query() -> None:
    line = "fetch https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAEXAMPLEKEY1234567&X-Amz-Signature=f00d done"
    redacted = redact_log_line(line)
    assert redacted == f"fetch https://b.s3.amazonaws.com/k?{REDACTED} done"


def test_the_host_redacts_as_the_control_plane_does() -> None:
    lines = [line for line, _, _ in SECRETS] + PLAIN
    on_host = host_redact(lines)
    assert on_host == [expected for _, _, expected in SECRETS] + PLAIN
    presigned = "https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAEXAMPLEKEY1234567&X-Amz-Signature=f00d"
    (redacted,) = host_redact([presigned])
    assert "ASIAEXAMPLEKEY1234567" not in redacted and "f00d" not in redacted
