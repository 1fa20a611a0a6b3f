"""The secrets scan can fail (issue 17): a secret planted in a history, a log line, a notification, an object key, an
SSM command parameter, ... is reported, by kind, origin and place, and never quoted; what each secret is searched
for (opsctl/local/secrets_scan.py); and the places read from (moto) through the plane's own gathering code
(opsctl/local/secrets_sources.py)."""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import secrets
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto import mock_aws

from freshtrack_ops.adapters.presign import object_url, presign_client
from opsctl.local import moto_patches, secrets_scan, secrets_sources
from opsctl.local.secrets_scan import (
    APP_CONFIG_ARCHIVE,
    APP_ENV_SECRET,
    CHAT_URL,
    DATABASE_PASSWORD,
    DYNAMODB_ITEM,
    GRAFANA_KEY,
    HISTORY,
    JWT_SECRET,
    LOG_LINE,
    NOTIFICATION,
    PRESIGNED_CREDENTIAL,
    PRESIGNED_URL,
    S3_BODY,
    S3_KEY,
    S3_METADATA,
    S3_TAGS,
    SSH_PRIVATE_KEY,
    SSM_OUTPUT,
    SSM_PARAMETER,
    SSM_PARAMETERS,
    WEBHOOK_TOKEN,
    Matcher,
    Place,
    Report,
    Secret,
    SecretLeak,
    presigned_url_secrets,
    private_key_needles,
    scan,
    secrets_from_secret_string,
    summarize,
    token_needles,
    url_purpose,
    write_result,
    write_summary,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


def _private_key() -> str:
    """A fresh OpenSSH ed25519 private key file (what ssh-keygen writes), made without any process."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return pem.decode()


@functools.cache
def _presigner() -> Any:
    return presign_client(REGION, boto3.session.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x"))


def _presigned(key: str = "backups/demo/2026/12/01/x.dump") -> str:
    return object_url(_presigner(), "bucket", key, 900)


def _needles_in(text: str, *secrets_: Secret) -> list[str]:
    return [needle for secret in secrets_ for needle in secret.needles if needle in text]


# -- what is searched for -------------------------------------------------------------------------------------------
def test_a_token_is_searched_whole_and_by_its_ends_a_short_value_not_at_all() -> None:
    token = secrets.token_urlsafe(32)
    assert token_needles(token) == (token, token[:20], token[-20:])
    assert token_needles(f"  {token}\n") == (token, token[:20], token[-20:]), "a file's trailing newline"
    assert token_needles("http://127.0.0.1:4567/services/x") == ("http://127.0.0.1:4567/services/x",), "not random"
    assert token_needles("short") == ()


def test_a_private_key_is_searched_by_its_own_body_lines() -> None:
    first, second = _private_key(), _private_key()
    needles = private_key_needles(first)
    body = first.strip().splitlines()[1:-1]
    # the first body line is the same for every ed25519 key: it names no key
    assert body[0] == second.strip().splitlines()[1]
    assert body[0] not in needles
    assert all(line in needles for line in body[1:] if len(line) >= 40)
    assert "".join(body[1:]) in needles
    assert not set(needles) & set(private_key_needles(second))


def test_a_presigned_url_is_searched_by_its_signature_and_its_credential() -> None:
    url = _presigned()
    found = presigned_url_secrets(url, "presigned GetObject of s3://bucket/backups/x.dump")
    assert [s.kind for s in found] == [PRESIGNED_URL, PRESIGNED_CREDENTIAL]
    signature = url.split("X-Amz-Signature=", 1)[1].split("&", 1)[0]
    assert found[0].needles == (signature,)
    assert any(needle in url for needle in found[1].needles), "the credential as the URL carries it (encoded)"
    assert any(needle.startswith("AKIAEXAMPLE/") for needle in found[1].needles)
    # what a hit says the URL grants: the object, never the query
    purpose = "presigned GetObject of https://bucket.s3.eu-west-1.amazonaws.com/backups/demo/2026/12/01/x.dump"
    assert url_purpose("GetObject", url) == purpose
    assert url_purpose("UploadPart", "http://127.0.0.1:1/b/k?partNumber=3&uploadId=u&X-Amz-Signature=s").endswith(
        "UploadPart part 3 of http://127.0.0.1:1/b/k"
    )


def _archive(files: dict[str, str]) -> str:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, text in files.items():
            encoded = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(encoded)
            archive.addfile(info, io.BytesIO(encoded))
    return base64.b64encode(data.getvalue()).decode()


def test_secrets_manager_values_give_their_secrets_by_kind() -> None:
    token, key, password, jwt = (secrets.token_urlsafe(32) for _ in range(4))
    chat = f"http://127.0.0.1:4040/services/T1234abcd/B5678efgh/{secrets.token_urlsafe(18)}"
    env = f"DOMAIN=demo.freshtrack.local\nSMTP_PASSWORD={secrets.token_urlsafe(16)}\nDB_NAME=frostguard\n"
    archive = _archive(
        {".env.production": env, "secrets/postgres_password.txt": password + "\n", "secrets/jwt_secret.txt": jwt}
    )
    config = {"format": 1, "host": "demo", "captured_at": "2026-12-01T12:00:00Z", "files_tgz_b64": archive}
    kinds = {
        secret.kind
        for name, value in (
            ("webhook/alertmanager", {"token": token}),
            ("webhook/grafana", {"hmac_key": key}),
            ("chat", {"url": chat}),
            ("demo/app-config", config),
        )
        for secret in secrets_from_secret_string(name, json.dumps(value))
    }
    assert {
        WEBHOOK_TOKEN,
        GRAFANA_KEY,
        CHAT_URL,
        APP_CONFIG_ARCHIVE,
        DATABASE_PASSWORD,
        JWT_SECRET,
        APP_ENV_SECRET,
    } <= kinds
    found = secrets_from_secret_string("demo/app-config", json.dumps(config))
    by_kind = {secret.kind: secret for secret in found}
    assert password in by_kind[DATABASE_PASSWORD].needles and jwt in by_kind[JWT_SECRET].needles
    assert by_kind[APP_ENV_SECRET].origin.endswith(".env.production SMTP_PASSWORD")
    # the non-secret fields of the configuration are no needles (a DR record names the capture's time and host)
    assert not any(needle in ("demo", "2026-12-01T12:00:00Z", "frostguard") for s in found for needle in s.needles)
    assert secrets_from_secret_string("demo/ssh-key", _private_key())[0].kind == SSH_PRIVATE_KEY, (
        "a private key by itself"
    )


# -- the scan -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_secrets() -> dict[str, Secret]:
    pem = _private_key()
    return {
        "key": Secret(SSH_PRIVATE_KEY, "host demo: the control plane's SSH client key", private_key_needles(pem)),
        "password": Secret(
            DATABASE_PASSWORD, "host demo: secrets/postgres_password.txt", token_needles(secrets.token_urlsafe(32))
        ),
        "token": Secret(WEBHOOK_TOKEN, "Secrets Manager webhook .token", token_needles(secrets.token_urlsafe(32))),
        "url": presigned_url_secrets(_presigned(), "presigned GetObject of s3://bucket/backups/x.dump")[0],
        "pem": Secret(SSH_PRIVATE_KEY, "the key's whole text", (pem,)),
    }


def _value(secret: Secret) -> str:
    return secret.needles[0]


@pytest.mark.parametrize(
    ("category", "secret", "shape"),
    [
        (
            HISTORY,
            "password",
            lambda v: json.dumps({"executionSucceededEventDetails": {"output": json.dumps({"p": v})}}),
        ),
        (HISTORY, "key", lambda v: json.dumps({"taskFailedEventDetails": {"cause": f"...\n{v}\n..."}})),
        (
            LOG_LINE,
            "token",
            lambda v: json.dumps({"level": "INFO", "message": "webhook", "authorization": f"Bearer {v}"}),
        ),
        (NOTIFICATION, "url", lambda v: f"restore failed: curl https://bucket.s3/x.dump?X-Amz-Signature={v}"),
        (S3_KEY, "password", lambda v: f"reports/demo/{v}.html"),
        (SSM_PARAMETERS, "token", lambda v: json.dumps({"Parameters": {"TOKEN": [v]}})),
        (DYNAMODB_ITEM, "url", lambda v: json.dumps({"pk": {"S": "pending#1"}, "url": {"S": f"...Signature={v}"}})),
    ],
)
def test_a_planted_secret_is_reported_by_kind_origin_and_place_never_quoted(
    run_secrets: dict[str, Secret], category: str, secret: str, shape: Any
) -> None:
    planted = run_secrets[secret]
    text = shape(_value(planted))
    places = [Place(category, "clean one", "nothing here"), Place(category, "the planted one", text)]
    report = scan("a plane", run_secrets.values(), places)
    kinds = {(hit.kind, hit.origin, hit.category, hit.where) for hit in report.hits}
    assert (planted.kind, planted.origin, category, "the planted one") in kinds
    assert not report.ok
    message = str(SecretLeak(report))
    assert f"{planted.kind} ({planted.origin}) in {category}: the planted one" in message
    assert not _needles_in(message, *run_secrets.values()), "a failure never quotes a secret"
    assert not _needles_in(json.dumps(report.as_json()), *run_secrets.values()), "nor does the results file"


def test_a_json_escaped_or_truncated_secret_is_still_found(run_secrets: dict[str, Secret]) -> None:
    pem, password = _value(run_secrets["pem"]), _value(run_secrets["password"])
    places = [
        Place(HISTORY, "escaped key", json.dumps({"cause": json.dumps({"stderr": pem})})),
        Place(LOG_LINE, "cut short", f"password={password[:24]}…"),
    ]
    report = scan("a plane", [run_secrets["key"], run_secrets["password"]], places)
    assert {(hit.kind, hit.where) for hit in report.hits} == {
        (SSH_PRIVATE_KEY, "escaped key"),
        (DATABASE_PASSWORD, "cut short"),
    }


def test_a_place_named_by_a_secret_is_named_without_it(run_secrets: dict[str, Secret]) -> None:
    password = _value(run_secrets["password"])
    report = scan(
        "a plane", [run_secrets["password"]], [Place(S3_KEY, f"s3://bkt-leaks/reports/{password}.html", password)]
    )
    assert [hit.where for hit in report.hits] == ["s3://bkt-leaks/reports/<secret>.html"]


def test_needles_are_literal_text_not_patterns() -> None:
    odd = Secret(DATABASE_PASSWORD, "a password with pattern characters", ("a+b(c)[d]*e?|f\\g",))
    report = scan(
        "a plane", [odd], [Place(LOG_LINE, "near miss", "aab(c)[d]eef"), Place(LOG_LINE, "it", "x a+b(c)[d]*e?|f\\g y")]
    )
    assert [hit.where for hit in report.hits] == ["it"]


def test_a_clean_run_has_no_hits_and_counts_every_place(run_secrets: dict[str, Secret]) -> None:
    places = [Place(HISTORY, str(n), "{}") for n in range(3)] + [Place(S3_TAGS, "t", "[]"), Place(S3_BODY, "b", "ok")]
    report = scan("a plane", run_secrets.values(), places)
    assert report.ok and report.hits == [] and report.known == []
    assert report.places == {HISTORY: 3, S3_TAGS: 1, S3_BODY: 1} and report.places_total == 5
    assert report.secrets == 5 and report.needles >= 5
    assert report.summary() == "secrets scan of a plane: 5 secrets, 5 places, 0 hits"


def test_a_place_that_cannot_be_read_fails_the_scan(run_secrets: dict[str, Secret]) -> None:
    def places() -> Iterator[Place]:
        yield Place(HISTORY, "one", "{}")
        raise RuntimeError("ThrottlingException")

    report = scan("a plane", run_secrets.values(), places())
    assert not report.ok and report.hits == []
    assert report.errors == ["reading the places failed: RuntimeError: ThrottlingException"]


def test_presigned_urls_in_ssm_parameters_are_the_known_finding_only_while_the_switch_says_so(
    run_secrets: dict[str, Secret], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _value(run_secrets["url"])
    places = [
        Place(
            SSM_PARAMETERS,
            "Local-FreshTrackOps-ssm_restore_stream c1",
            json.dumps({"OBJECT_URL": [f"x?X-Amz-Signature={url}"]}),
        ),
        Place(HISTORY, "restore/r1 event 7", url),
        Place(SSM_PARAMETERS, "Local-FreshTrackOps-x c2", _value(run_secrets["token"])),
    ]
    monkeypatch.setattr(secrets_scan, "SSM_PARAMETER_URLS_KNOWN", True)
    report = scan("a plane", run_secrets.values(), places)
    assert [(h.kind, h.category) for h in report.known] == [(PRESIGNED_URL, SSM_PARAMETERS)]
    # only presigned URLs in SSM parameters: the same URL in a history, and another secret in a parameter, fail
    assert sorted((h.kind, h.category) for h in report.hits) == [
        (PRESIGNED_URL, HISTORY),
        (WEBHOOK_TOKEN, SSM_PARAMETERS),
    ]
    assert "1 known" in report.summary()
    monkeypatch.setattr(secrets_scan, "SSM_PARAMETER_URLS_KNOWN", False)
    report = scan("a plane", run_secrets.values(), places)
    assert report.known == [] and len(report.hits) == 3


def test_results_files_add_up_to_the_session_summary(tmp_path: Path, run_secrets: dict[str, Secret]) -> None:
    clean = scan("tests/integration/test_a.py", run_secrets.values(), [Place(HISTORY, "1", "{}")])
    leaking = scan(
        "tests/integration/test_b.py", run_secrets.values(), [Place(LOG_LINE, "2", _value(run_secrets["token"]))]
    )
    for report in (clean, leaking, Report(plane="tests/integration/test_c.py", errors=["reading failed"])):
        write_result(report, tmp_path)
    summary = summarize(tmp_path)
    assert (summary.planes, summary.hits, summary.errors) == (3, 1, 1)
    assert summary.secrets == 10 and summary.places == 2
    assert summary.leaking == ("tests/integration/test_b.py", "tests/integration/test_c.py")
    assert summary.line() == "secrets scan: 3 planes, 10 secrets, 2 places, 1 hits, 1 scan errors"
    _, path = write_summary(tmp_path)
    merged = json.loads(path.read_text())
    assert merged["summary"] == summary.line() and len(merged["planes"]) == 3
    assert not _needles_in(path.read_text(), *run_secrets.values())


def test_the_matcher_without_secrets_finds_nothing() -> None:
    assert Matcher([]).found_in("anything") == []
    assert Matcher([Secret(DATABASE_PASSWORD, "empty", ("",))]).secrets == []


# -- the places, gathered from moto ---------------------------------------------------------------------------------
@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def test_secrets_planted_in_moto_are_found_in_every_kind_of_place(aws: None) -> None:
    password = secrets.token_urlsafe(32)
    secret = Secret(DATABASE_PASSWORD, "host demo: secrets/postgres_password.txt", token_needles(password))
    # a history: the execution's input
    sfn = _client("stepfunctions")
    machine = sfn.create_state_machine(
        name="backup",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="leaky", input=json.dumps({"reason": password}))
    for _ in range(100):
        if sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING":
            break
        time.sleep(0.05)
    # S3: a key, metadata, tags and a report's body
    s3 = _client("s3")
    s3.create_bucket(Bucket="bkt-leaks", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="bkt-leaks", Key=f"reports/{password}.txt", Body=b"clean")
    s3.put_object(Bucket="bkt-leaks", Key="reports/meta.html", Body=b"clean", Metadata={"who": password})
    s3.put_object(Bucket="bkt-leaks", Key="reports/tags.html", Body=b"clean", Tagging=f"who={password}")
    s3.put_object(Bucket="bkt-leaks", Key="reports/body.html", Body=f"<p>{password}</p>".encode())
    s3.put_object(Bucket="bkt-leaks", Key="ssm-exchange/x/part-urls", Body=password.encode())  # a carrier: not read
    # DynamoDB
    dynamodb = _client("dynamodb")
    dynamodb.create_table(
        TableName="ops",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="ops", Item={"pk": {"S": "pending#1"}, "note": {"S": password}})
    # SSM: a command parameter and a parameter value
    ssm = _client("ssm")
    ssm.send_command(
        InstanceIds=["i-0123456789abcdef0"],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [f"echo {password}"]},
    )
    ssm.put_parameter(Name="/ftops/targets", Value=json.dumps({"password": password}), Type="String")

    places = [
        *secrets_sources.history_places(_client, ACCOUNT, REGION),
        *secrets_sources.s3_places(ACCOUNT),
        *secrets_sources.dynamodb_places(_client),
        *secrets_sources.ssm_places(_client, ACCOUNT, REGION),
    ]
    report = scan("moto", [secret], places)
    found = {(hit.category, hit.where) for hit in report.hits}
    assert (HISTORY, "backup/leaky event 1 (ExecutionStarted)") in found
    assert {category for category, _ in found} == {
        HISTORY,
        S3_KEY,
        S3_METADATA,
        S3_TAGS,
        S3_BODY,
        DYNAMODB_ITEM,
        SSM_PARAMETERS,
        SSM_PARAMETER,
    }
    assert (S3_KEY, "s3://bkt-leaks/reports/<secret>.txt") in found
    assert (DYNAMODB_ITEM, "ops pending#1") in found
    assert not any(where.startswith("s3://bkt-leaks/ssm-exchange/") for category, where in found if category == S3_BODY)
    assert report.places[SSM_OUTPUT] == 1


def test_secrets_manager_gives_every_version_of_every_secret(aws: None) -> None:
    sm = _client("secretsmanager")
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    sm.create_secret(Name="freshtrack-ops/local/webhook/alertmanager", SecretString=json.dumps({"token": old}))
    sm.put_secret_value(SecretId="freshtrack-ops/local/webhook/alertmanager", SecretString=json.dumps({"token": new}))
    sm.create_secret(Name="freshtrack-ops/local/demo/app-config")  # created empty, as the plane does
    found = list(secrets_sources.secrets_manager_secrets(_client))
    tokens = {secret.needles[0] for secret in found if secret.kind == WEBHOOK_TOKEN}
    assert tokens == {old, new}


def test_the_recorder_captures_log_lines_urls_and_lambda_error_reports(aws: None) -> None:
    token = secrets.token_urlsafe(32)
    recorder = secrets_sources.ScanRecorder(dict)
    recorder.activate()
    try:
        from freshtrack_ops.observability import logger

        logger.info("planted", extra={"token": token})
        logging.getLogger("freshtrack_ops.backup.cleanup").warning("cleanup: %s", token)
        logging.getLogger("freshtrack_ops.backup.cleanup").info("below WARNING: %s", token)
        url = _presigned()
        secrets_sources.note(DATABASE_PASSWORD, "noted", token)
        for observer in list(moto_patches.STATE.observers):
            observer("ftops-local-Backup", json.dumps({"errorType": "X", "errorMessage": token}).encode(), True)
    finally:
        recorder.deactivate()
    logger.info("after deactivation", extra={"token": token})
    assert recorder not in [getattr(o, "__self__", None) for o in moto_patches.STATE.observers]
    lines = recorder.log_lines()
    assert [line.source for line in lines] == [
        "freshtrack-ops",
        "freshtrack_ops.backup.cleanup",
        "ftops-local-Backup (Lambda error report)",
    ]
    assert all(token in line.text for line in lines)
    assert json.loads(lines[0].text)["message"] == "planted", "formatted as the deployed function's JSON line"
    assert recorder.urls_minted == 1
    signature = url.split("X-Amz-Signature=", 1)[1].split("&", 1)[0]
    recorded = recorder.secrets(_client)
    assert any(signature in s.needles for s in recorded if s.kind == PRESIGNED_URL)
    assert any(token in s.needles for s in recorded if s.kind == DATABASE_PASSWORD)
