"""A presigned URL is a bearer credential: fed into every path that builds an error cause, a log line or a
notification from external text, it never comes out (issue 8: an InvalidInput on OBJECT_URL used to put the
whole URL into the cause, the execution history and the e-mail)."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest
from botocore.exceptions import ClientError

from freshtrack_ops import errors
from freshtrack_ops.adapters.ssm import SsmCommands, error_for
from freshtrack_ops.adapters.task_callback import TaskCallback
from freshtrack_ops.config import SsmTarget, describe_validation_error
from freshtrack_ops.explain import CaughtError, error_fields
from freshtrack_ops.host_command import tail
from freshtrack_ops.host_scripts import script_env
from freshtrack_ops.host_scripts.parameters import check_values
from freshtrack_ops.host_scripts.ssm_document import document_content, resolve_parameters
from freshtrack_ops.observability import RedactingFormatter
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.redact import REDACTED, describe, looks_presigned, redact
from freshtrack_ops.restore.ssm_read import read_verify

SIGNATURE = "9f2c4e0b7d1a6c3e5f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
CREDENTIAL = "ASIAEXAMPLEKEYID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN%2F%2B%3D"
URL = (
    "https://freshtrack-backups.s3.us-east-1.amazonaws.com/backups/demo-ssm/2026/01/01/backup-1.dump"
    f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={CREDENTIAL}&X-Amz-Date=20260101T000000Z"
    f"&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE}"
)
LOCAL_URL = URL.replace("https://freshtrack-backups.s3.us-east-1.amazonaws.com", "http://127.0.0.1:41234/bucket")
INSTANCE = "mi-0123456789abcdef0"
SSM_ENV = {"APP_DIR": "/opt/freshtrack-pro", "DOCKER_BIN": "docker", "PG_SERVICE": "postgres"}


def assert_clean(text: str) -> None:
    """None of the URL's credential parts is in ``text`` (in any case), and no credential field has a value."""
    lowered = text.lower()
    for secret in (SIGNATURE, CREDENTIAL, TOKEN, SIGNATURE[:16], "ASIAEXAMPLEKEYID"):
        assert secret.lower() not in lowered, (secret, text)
    assert _VALUED_FIELD.search(text) is None, text


_VALUED_FIELD = re.compile(r"(?i)x-amz-(signature|credential|security-token)(=|%3d)(?!<redacted>)")


# -- the helper itself ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        URL,
        LOCAL_URL,
        f"curl: (22) {URL} returned 403",
        f"value {URL!r} refused",
        json.dumps({"url": URL}),
        f"parameter value /{URL}/ does not match the allowed pattern /^x$/",
        URL.replace("X-Amz-", "x-amz-"),
        URL[: URL.index("&X-Amz-Signature")] + "&X-Amz-Sig",  # cut short, the signature never started
        URL.split("?", 1)[1],  # the query alone
        "https://outer.example/?next=" + URL.replace("?", "%3F").replace("&", "%26").replace("=", "%3D"),
    ],
)
def test_redact_removes_every_credential_part(text: str) -> None:
    assert_clean(redact(text))


def test_redact_keeps_what_names_the_object_and_leaves_other_text_alone() -> None:
    assert redact(f"GET {URL} failed") == (
        "GET https://freshtrack-backups.s3.us-east-1.amazonaws.com/backups/demo-ssm/2026/01/01/backup-1.dump"
        f"?{REDACTED} failed"
    )
    plain = "https://demo.example/api/health?full=1 and pg_restore: error: could not read input file"
    assert redact(plain) == plain
    assert redact("SignatureDoesNotMatch: the signature we calculated does not match") == (
        "SignatureDoesNotMatch: the signature we calculated does not match"
    )
    assert looks_presigned(URL) and not looks_presigned("https://demo.example/api/health")
    assert describe(URL) == f"a presigned URL, {len(URL)} characters"


# -- validation of host parameters (both transports) -----------------------------------------------------
@pytest.mark.parametrize("name", ["OBJECT_URL", "PART_URLS_URL"])
@pytest.mark.parametrize("bad", [URL + "&x=$(id)", URL + "&pad=" + "a" * 9000, URL.replace("https", "ftp")])
def test_an_invalid_url_parameter_is_described_never_echoed(name: str, bad: str) -> None:
    script = "ssm_archive_list.sh" if name == "OBJECT_URL" else "ssm_backup_upload.sh"
    with pytest.raises(ValueError, match=rf"^env: {name} ") as raised:
        check_values(script, {name: bad})
    assert f"(a presigned URL, {len(bad)} characters)" in str(raised.value)
    assert_clean(str(raised.value))
    with pytest.raises(errors.InvalidInput) as invalid:  # what the SSH runner and the SSM adapter raise
        script_env("ssm_archive_list.sh", SSM_ENV | {"OBJECT_URL": bad})
    assert_clean(str(invalid.value))


def test_a_presigned_url_in_a_parameter_that_is_no_credential_is_not_echoed_either() -> None:
    with pytest.raises(ValueError, match="DB_NAME") as raised:
        check_values("preflight.sh", {"DB_NAME": URL})
    assert_clean(str(raised.value))
    assert "a presigned URL" in str(raised.value)


def test_the_local_ssm_api_stand_in_refuses_without_echoing() -> None:
    content = document_content("ssm_archive_list.sh")
    for bad in (URL + "&x=$(id)", URL + "&pad=" + "a" * 9000):
        with pytest.raises(ValueError, match="OBJECT_URL") as raised:
            resolve_parameters(content, SSM_ENV | {"OBJECT_URL": bad})
        assert_clean(str(raised.value))


# -- errors, causes, notifications ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "error", [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.OpsError)]
)
def test_every_named_error_redacts_its_message(error: type[errors.OpsError]) -> None:
    raised = error(f"the host said: curl {URL} failed")
    assert_clean(str(raised))
    assert_clean(repr(raised))
    assert "backup-1.dump?<redacted>" in str(raised)


class _RecordingSfn:
    def __init__(self) -> None:
        self.failures: list[dict[str, Any]] = []

    def send_task_failure(self, **kwargs: Any) -> None:
        self.failures.append(kwargs)


def test_a_task_failure_cause_is_redacted_whatever_raised_it() -> None:
    sfn = _RecordingSfn()
    TaskCallback(sfn).fail("token", RuntimeError(f"unexpected: {URL}"))
    TaskCallback(sfn).fail("token", errors.InvalidInput(f"SSM refused {URL}"))
    assert [f["error"] for f in sfn.failures] == ["RuntimeError", "InvalidInput"]
    for failure in sfn.failures:
        assert_clean(failure["cause"])


@pytest.mark.parametrize(
    "cause",
    [
        f"HostCommandFailed: {URL}",
        json.dumps({"errorType": "ValueError", "errorMessage": f"bad {URL}", "stackTrace": []}),
    ],
)
def test_the_notification_cause_is_redacted(cause: str) -> None:
    """The cleanup task turns the caught error into the notification's text (``error_cause``)."""
    _name, shown = error_fields(CaughtError.model_validate({"Error": "HostCommandFailed", "Cause": cause}))
    assert_clean(shown)
    assert "?<redacted>" in shown


# -- external text: host output, SSM and the agent --------------------------------------------------------
def test_the_tail_of_host_output_is_redacted() -> None:
    stderr = f"fetching {URL}\ncurl: (22) The requested URL returned error: 403\ndownload failed (curl exited 22)"
    assert_clean(tail(stderr))
    assert "download failed" in tail(stderr)


def test_a_read_step_that_could_not_fetch_the_object_does_not_quote_the_url() -> None:
    target = SsmTarget(id="demo-ssm", instance_id=INSTANCE, domain="demo.test")
    result = CommandResult(exit_code=45, stdout="", stderr=f"curl: (22) {URL}: 403\ndownload failed")
    manifest = SimpleNamespace(backup_id="backup-1")
    with pytest.raises(errors.HostCommandFailed) as raised:
        read_verify(manifest, target, result)  # type: ignore[arg-type]
    assert_clean(str(raised.value))


def test_an_ssm_invalid_parameters_message_that_quotes_the_url_is_redacted() -> None:
    exc = ClientError(
        {"Error": {"Code": "InvalidParameters", "Message": f"Parameter OBJECT_URL value {URL} is invalid."}},
        "SendCommand",
    )
    named = SsmCommands._send_error(exc, INSTANCE, "ssm_archive_list.sh")
    assert isinstance(named, errors.InvalidInput)
    assert_clean(str(named))


class _FakeSsm:
    def __init__(self, invocation: dict[str, Any]) -> None:
        self.invocation = invocation

    def get_command_invocation(self, **_: Any) -> dict[str, Any]:
        return self.invocation


def test_the_agents_refusal_which_quotes_the_value_is_redacted_in_the_error() -> None:
    """The SSM agent's own parameter check says "parameter value /<value>/ does not match the allowed
    pattern": the invocation fails without running the script, and that text is all there is to tell why."""
    refusal = (
        "all errors during param validation errors: error thrown in 'AllowedRegexParamValidator' while "
        f"validating parameter /OBJECT_URL/: parameter value /{URL}/ does not match the allowed pattern /^x$/"
    )
    invocation = {
        "Status": "Failed",
        "StatusDetails": "Failed",
        "ResponseCode": -1,
        "DocumentName": "FreshTrackOps-ssm_archive_list",
        "StandardErrorContent": refusal,
    }
    commands = SsmCommands(_FakeSsm(invocation), None, output_bucket="b", output_prefix="p")  # type: ignore[arg-type]
    with pytest.raises(errors.HostCommandFailed, match="the script did not run") as raised:
        commands.status("cmd-1", INSTANCE)
    assert_clean(str(raised.value))
    assert "AllowedRegexParamValidator" in str(raised.value)
    assert_clean(str(error_for("Failed", "Failed", INSTANCE, "s.sh", response_code=-1, output=refusal)))


# -- logs and validation messages -------------------------------------------------------------------------
def test_log_lines_are_redacted() -> None:
    formatter = RedactingFormatter()
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "failed for %s", (URL,), None)
    record.detail = {"cause": f"curl {URL}"}
    line = formatter.format(record)
    assert_clean(line)
    assert json.loads(line)["message"].startswith("failed for https://freshtrack-backups")


def test_a_validation_message_never_quotes_a_presigned_url() -> None:
    class Model(pydantic.BaseModel):
        backup_id: str = pydantic.Field(pattern=r"^backup-[0-9]+$")

    short = f"http://127.0.0.1:9/b/k?X-Amz-Credential={CREDENTIAL}&X-Amz-Signature={SIGNATURE}"
    with pytest.raises(pydantic.ValidationError) as raised:
        Model(backup_id=short)  # short: the credential is within the 80 characters a message shows
    assert_clean(describe_validation_error(raised.value))
