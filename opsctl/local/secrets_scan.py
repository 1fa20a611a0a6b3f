"""The secrets scan (issue 17): every place a run wrote to, searched for every secret the run created.

A secret is what authenticates or must stay on its server: SSH private keys, database passwords, the app's JWT
secret and its other secret files, the webhook's bearer token and Grafana signing key, the chat webhook URL, every
presigned URL the tasks minted, temporary presigning credentials. A place is anything an operator, a log reader or
whoever may call a read API sees: every event of every execution history, every log line the tasks wrote, every
notification and chat message, every S3 object's key, metadata and tags (and the body of the objects that are
reports or logs), every DynamoDB item, every SSM command's parameters and output, every SSM parameter. DESIGN.md
section 7: a secret never appears in any of them, so the scan expects zero hits.

This module is the pure part: ``Secret`` (a kind, an origin that names where it came from without its value, and
the needles searched for: the value and distinctive pieces of it, e.g. each body line of a private key, a presigned
URL's ``X-Amz-Signature``), ``Place``, ``scan`` (RE2 over all needles at once, then exact checks where it matched),
``Report`` and the results files. ``secrets_sources`` records what a local plane's run created and gathers its
places; ``LocalPlane.stop`` runs the scan and raises ``SecretLeak`` on any hit.

A hit names the secret's kind and origin and the place (``Hit.describe``), never the secret: every needle is
removed from what the message quotes of the place.

Known finding (closed): before the SSM data path handed its presigned URLs over in host exchange objects, the
verification's and the restore's Run Command parameters carried a presigned GET of the whole dump (and the upload's
and a disaster recovery's transfer their own URLs). ``SSM_PARAMETER_URLS_KNOWN`` excused those hits (presigned URLs
in SSM command parameters, and nothing else) while they were expected; it is False now: they fail like any other.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import re2

#: the one switch for the known finding (module docstring): True excuses presigned URLs in Run Command parameters;
#: False since the exchange-object change landed
SSM_PARAMETER_URLS_KNOWN = False

#: where a plane writes its scan's results (one JSON file per plane); set by the test session (tests/conftest.py),
#: and what turns the scan on for every ``LocalPlane`` not told otherwise
RESULTS_DIR_ENV = "FTOPS_SECRETS_SCAN"

# kinds of secret
SSH_PRIVATE_KEY = "SSH private key"
DATABASE_PASSWORD = "database password"  # noqa: S105 - a kind's name
JWT_SECRET = "JWT secret"  # noqa: S105 - a kind's name
APP_SECRET_FILE = "app secret file"  # noqa: S105 - a kind's name
APP_ENV_SECRET = "app .env.production secret"  # noqa: S105 - a kind's name
APP_CONFIG_ARCHIVE = "app-config archive"
WEBHOOK_TOKEN = "webhook bearer token"  # noqa: S105 - a kind's name
GRAFANA_KEY = "Grafana signing key"
CHAT_URL = "chat webhook URL"
PRESIGNED_URL = "presigned URL"
PRESIGNED_CREDENTIAL = "presigned URL credential"
SESSION_SECRET = "temporary presigning secret key"  # noqa: S105 - a kind's name
SEEDED_LOG_SECRET = "seeded app log secret"  # noqa: S105 - a kind's name
SECRET_VALUE = "Secrets Manager value"  # noqa: S105 - a kind's name

# places
HISTORY = "execution history"
LOG_LINE = "log line"
NOTIFICATION = "SNS notification"
CHAT_MESSAGE = "chat message"
CHAT_DEAD_LETTER = "chat dead letter"
S3_KEY = "S3 object key"
S3_METADATA = "S3 object metadata"
S3_TAGS = "S3 object tags"
S3_BODY = "S3 object body"
DYNAMODB_ITEM = "DynamoDB item"
SSM_PARAMETERS = "SSM command parameters"
SSM_OUTPUT = "SSM command output"
SSM_PARAMETER = "SSM parameter"
LAMBDA_RESPONSE = "Lambda response"
SSH_COMMAND = "SSH command line"
PLACE_CATEGORIES = (
    HISTORY,
    LOG_LINE,
    NOTIFICATION,
    CHAT_MESSAGE,
    CHAT_DEAD_LETTER,
    S3_KEY,
    S3_METADATA,
    S3_TAGS,
    S3_BODY,
    DYNAMODB_ITEM,
    SSM_PARAMETERS,
    SSM_OUTPUT,
    SSM_PARAMETER,
    LAMBDA_RESPONSE,
    SSH_COMMAND,
)

#: needles shorter than this are not searched for (too likely to occur by chance)
MIN_NEEDLE = 12
#: a token made of these characters only is random-looking: its ends are searched for too (a truncated leak)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]+")
_TOKEN_END = 20
#: a key in .env.production whose value is a secret (what ``redact_log_line`` treats as one)
_SECRET_ENV_KEY = re.compile(r"(?i)^[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key)$")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(.*?)-----END \1PRIVATE KEY-----", re.DOTALL)
_SIGNATURE = "X-Amz-Signature"
_CREDENTIAL = "X-Amz-Credential"


@dataclass(frozen=True)
class Secret:
    """``kind``: what it is; ``origin``: where it came from (never its value); ``needles``: what is searched for."""

    kind: str
    origin: str
    needles: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class Place:
    """One thing a reader sees: ``category`` (one of ``PLACE_CATEGORIES``), ``where`` (which one), its ``text``."""

    category: str
    where: str
    text: str = field(repr=False)


@dataclass(frozen=True)
class Hit:
    kind: str
    origin: str
    category: str
    where: str

    def describe(self) -> str:
        return f"{self.kind} ({self.origin}) in {self.category}: {self.where}"


def is_known(hit: Hit) -> bool:
    """The known finding (module docstring), while ``SSM_PARAMETER_URLS_KNOWN``."""
    urls = (PRESIGNED_URL, PRESIGNED_CREDENTIAL)
    return SSM_PARAMETER_URLS_KNOWN and hit.category == SSM_PARAMETERS and hit.kind in urls


@dataclass
class Report:
    """One plane's scan."""

    plane: str
    secrets: int = 0
    secrets_by_kind: dict[str, int] = field(default_factory=dict)
    needles: int = 0
    places: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    known: list[Hit] = field(default_factory=list)
    #: what kept the scan from finishing (a failed read): a scan that did not finish fails like a hit
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def places_total(self) -> int:
        return sum(self.places.values())

    @property
    def ok(self) -> bool:
        return not self.hits and not self.errors

    def summary(self) -> str:
        known = f" ({len(self.known)} known: {SSM_PARAMETERS} carry presigned URLs)" if self.known else ""
        return (
            f"secrets scan of {self.plane}: {self.secrets} secrets, {self.places_total} places, "
            f"{len(self.hits)} hits{known}"
        )

    def failure(self) -> str:
        """What a failed scan says: the summary, every hit (kind, origin, place; never a secret), every error."""
        lines = [self.summary()]
        lines += [f"  LEAK: {hit.describe()}" for hit in self.hits]
        lines += [f"  SCAN ERROR: {error}" for error in self.errors]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "plane": self.plane,
            "pid": os.getpid(),
            "secrets": self.secrets,
            "secrets_by_kind": dict(sorted(self.secrets_by_kind.items())),
            "needles": self.needles,
            "places": {category: self.places.get(category, 0) for category in PLACE_CATEGORIES},
            "places_total": self.places_total,
            "hits": [hit.describe() for hit in self.hits],
            "known": [hit.describe() for hit in self.known],
            "errors": list(self.errors),
            "seconds": round(self.seconds, 3),
        }


class SecretLeak(AssertionError):
    """A plane's scan found a secret somewhere (or could not finish): raised by ``LocalPlane.stop``."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.failure())
        self.report = report


# -- needles ------------------------------------------------------------------------------------------------------
def token_needles(value: str) -> tuple[str, ...]:
    """A secret value's needles: the value; for a long random-looking one also its first and last 20 characters
    (a message that cut it short still leaks most of it). Values under ``MIN_NEEDLE`` characters give none."""
    value = value.strip()
    if len(value) < MIN_NEEDLE:
        return ()
    if len(value) >= 2 * _TOKEN_END and _TOKEN.fullmatch(value):
        return (value, value[:_TOKEN_END], value[-_TOKEN_END:])
    return (value,)


def private_key_needles(pem: str) -> tuple[str, ...]:
    """A PEM private key's needles: every body line of 40 characters or more but the first (an OpenSSH key's first
    line is the same for every key of its type), and the body without line breaks (a key re-wrapped or escaped)."""
    needles: list[str] = []
    for match in _PEM.finditer(pem):
        lines = [line.strip() for line in match.group(2).strip().splitlines() if line.strip()]
        needles += [line for line in lines[1:] if len(line) >= 40]
        body = "".join(lines[1:])
        if len(body) >= MIN_NEEDLE:
            needles.append(body)
    return tuple(dict.fromkeys(needles))


def presigned_url_secrets(url: str, purpose: str) -> list[Secret]:
    """A minted presigned URL's secrets: its signature (``X-Amz-Signature``; SigV2's ``Signature``), which is what
    lets whoever holds it in, and its credential scope (``X-Amz-Credential``, in plain and percent-encoded form),
    which appears nowhere but in such a URL."""
    query = parse_qs(urlsplit(url).query)
    found: list[Secret] = []
    signature = (query.get(_SIGNATURE) or query.get("Signature") or [""])[0]
    if len(signature) >= MIN_NEEDLE:
        found.append(Secret(PRESIGNED_URL, purpose, (signature,)))
    credential = (query.get(_CREDENTIAL) or [""])[0]
    if len(credential) >= MIN_NEEDLE:
        encoded = quote(credential, safe="")
        found.append(Secret(PRESIGNED_CREDENTIAL, f"{_CREDENTIAL} of presigned URLs", (credential, encoded)))
    return found


def url_purpose(operation: str, url: str) -> str:
    """What a presigned URL grants, for a hit's message: ``presigned GetObject of <scheme://host/path>`` (the object,
    never the query, which is the credential)."""
    parts = urlsplit(url)
    part = parse_qs(parts.query).get("partNumber", [""])[0]
    return f"presigned {operation}{f' part {part}' if part else ''} of {parts.scheme}://{parts.netloc}{parts.path}"


def secrets_from_secret_string(name: str, text: str) -> list[Secret]:
    """The secrets in one Secrets Manager value (``name`` is the secret's name): a private key; the webhook's, the
    chat's and the app-config's JSON (``monitoring.credentials``, ``provisioning.create_chat``, ``dr.app_config``):
    token, hmac_key, url, files_tgz_b64 (the archive, and the secret files in it); any other JSON value under a
    secret-looking key; and always the whole value."""
    origin = f"Secrets Manager {name}"
    found: list[Secret] = []
    if "PRIVATE KEY-----" in text:
        found.append(Secret(SSH_PRIVATE_KEY, origin, private_key_needles(text)))
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        found += _json_secrets(origin, value)
    found.append(Secret(SECRET_VALUE, origin, token_needles(text)))
    return [secret for secret in found if secret.needles]


_JSON_KINDS = {"token": WEBHOOK_TOKEN, "hmac_key": GRAFANA_KEY, "url": CHAT_URL}


def _json_secrets(origin: str, value: Mapping[str, Any]) -> list[Secret]:
    found: list[Secret] = []
    for key, item in value.items():
        if not isinstance(item, str):
            continue
        where = f"{origin} .{key}"
        if key == "files_tgz_b64":
            found.append(Secret(APP_CONFIG_ARCHIVE, where, archive_needles(item)))
            found += archive_secrets(item, origin)
        elif key == "url":
            found.append(Secret(CHAT_URL, where, url_needles(item)))
        elif key in _JSON_KINDS:
            found.append(Secret(_JSON_KINDS[key], where, token_needles(item)))
        elif _SECRET_ENV_KEY.match(key) or key.lower().endswith(("key", "credential", "credentials")):
            found.append(Secret(SECRET_VALUE, where, token_needles(item)))
    return found


def url_needles(url: str) -> tuple[str, ...]:
    """A secret URL (the chat webhook's: the URL is the credential): the whole URL, its path, and the path's last
    segment when it is a long token (Slack's ``/services/T.../B.../<token>``)."""
    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    needles = [url, *([path] if len(path) >= MIN_NEEDLE else [])]
    if len(last) >= 16:
        needles.append(last)
    return tuple(needle for needle in dict.fromkeys(needles) if len(needle) >= MIN_NEEDLE)


def archive_needles(encoded: str) -> tuple[str, ...]:
    """A base64 archive's needles: every 32 characters of it (any sizeable piece of it is a leak)."""
    compact = "".join(encoded.split())
    return tuple(dict.fromkeys(compact[i : i + 32] for i in range(0, len(compact) - 31, 32)))


def archive_secrets(encoded: str, origin: str) -> list[Secret]:
    """The secret files in an app-config archive (a gzip'd tar of .env.production and secrets/*)."""
    try:
        data = base64.b64decode(encoded, validate=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            files = {
                member.name: extracted.read().decode("utf-8", "replace")
                for member in archive.getmembers()
                if member.isfile() and member.size <= 65_536 and (extracted := archive.extractfile(member)) is not None
            }
    except (binascii.Error, ValueError, tarfile.TarError, OSError, EOFError):
        return []
    found: list[Secret] = []
    for name, text in files.items():
        found += app_file_secrets(name.removeprefix("./"), text, f"{origin} archive")
    return found


def app_file_secrets(relative: str, text: str, origin: str) -> list[Secret]:
    """The secrets in one of the app's configuration files: a ``secrets/`` file's value (the database password, the
    JWT secret, another), or the secret-named values of ``.env.production``."""
    where = f"{origin}: {relative}"
    name = relative.rsplit("/", 1)[-1]
    if relative.startswith("secrets/") or "/secrets/" in relative:
        kind = (
            DATABASE_PASSWORD
            if name.startswith("postgres_password")
            else JWT_SECRET
            if name.startswith("jwt_secret")
            else APP_SECRET_FILE
        )
        return [Secret(kind, where, needles)] if (needles := token_needles(text)) else []
    if name.startswith(".env"):
        found = []
        for line in text.splitlines():
            key, equals, value = line.strip().partition("=")
            if equals and _SECRET_ENV_KEY.match(key.strip()) and (needles := token_needles(value.strip("'\" "))):
                found.append(Secret(APP_ENV_SECRET, f"{where} {key.strip()}", needles))
        return found
    return []


# -- the scan -----------------------------------------------------------------------------------------------------
class Matcher:
    """All needles of all secrets at once: an RE2 alternation finds whether a text holds any (linear in the text),
    then exact substring checks say which secrets it holds."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self.secrets = unique_secrets(secrets)
        self._by_needle: dict[str, list[Secret]] = {}
        for secret in self.secrets:
            for needle in secret.needles:
                if len(needle) >= MIN_NEEDLE:
                    self._by_needle.setdefault(needle, []).append(secret)
        # longest first: an alternation stops at its first match, and only the set of secrets matters
        needles = sorted(self._by_needle, key=len, reverse=True)
        self._pattern: Any = None
        if needles:
            options = re2.Options()
            options.max_mem = 256 << 20
            self._pattern = re2.compile("|".join(re2.escape(needle) for needle in needles), options)

    @property
    def needle_count(self) -> int:
        return len(self._by_needle)

    def found_in(self, text: str) -> list[Secret]:
        if self._pattern is None or not text or self._pattern.search(text) is None:
            return []
        found: dict[tuple[str, str], Secret] = {}
        for needle, owners in self._by_needle.items():
            if needle in text:
                for secret in owners:
                    found.setdefault((secret.kind, secret.origin), secret)
        return list(found.values())

    def sanitize(self, text: str) -> str:
        """``text`` (a place's name) with every needle in it replaced: what a message may quote."""
        if self._pattern is None or self._pattern.search(text) is None:
            return text
        for needle in sorted(self._by_needle, key=len, reverse=True):
            text = text.replace(needle, "<secret>")
        return text


def unique_secrets(secrets: Iterable[Secret]) -> list[Secret]:
    """Each secret once (the same needles from several origins, e.g. a password on a primary and its replacement,
    count once, under the first origin); secrets without needles dropped."""
    seen: dict[tuple[str, frozenset[str]], Secret] = {}
    for secret in secrets:
        needles = tuple(n for n in secret.needles if len(n) >= MIN_NEEDLE)
        if needles:
            seen.setdefault((secret.kind, frozenset(needles)), Secret(secret.kind, secret.origin, needles))
    return list(seen.values())


def scan(plane: str, secrets: Iterable[Secret], places: Iterable[Place], errors: Iterable[str] = ()) -> Report:
    """Search every place for every secret; the known finding's hits go to ``Report.known``."""
    began = time.monotonic()
    matcher = Matcher(secrets)
    report = Report(
        plane=plane,
        secrets=len(matcher.secrets),
        secrets_by_kind=dict(Counter(secret.kind for secret in matcher.secrets)),
        needles=matcher.needle_count,
    )
    places_seen: Counter[str] = Counter()
    try:
        for place in places:
            places_seen[place.category] += 1
            for secret in matcher.found_in(place.text):
                hit = Hit(secret.kind, secret.origin, place.category, matcher.sanitize(place.where))
                (report.known if is_known(hit) else report.hits).append(hit)
    except Exception as exc:  # a place that could not be read: the scan did not finish
        report.errors.append(matcher.sanitize(f"reading the places failed: {type(exc).__name__}: {exc}"))
    report.errors += [matcher.sanitize(error) for error in errors]
    report.places = dict(places_seen)
    report.seconds = time.monotonic() - began
    return report


# -- results files --------------------------------------------------------------------------------------------------
def results_dir() -> Path | None:
    """Where this process's planes write their results (None: the scan is off unless a plane asks for it)."""
    value = os.environ.get(RESULTS_DIR_ENV, "")
    return Path(value) if value else None


def write_result(report: Report, directory: Path) -> Path:
    """The plane's results as one JSON file in ``directory`` (named by process and time: planes never share one)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"plane-{os.getpid()}-{time.time_ns()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


@dataclass(frozen=True)
class SessionSummary:
    """Every plane's results in a directory, added up."""

    planes: int
    secrets: int
    places: int
    hits: int
    known: int
    errors: int
    leaking: tuple[str, ...]

    def line(self) -> str:
        known = f", {self.known} known ({SSM_PARAMETERS} carry presigned URLs)" if self.known else ""
        errors = f", {self.errors} scan errors" if self.errors else ""
        return (
            f"secrets scan: {self.planes} planes, {self.secrets} secrets, {self.places} places, "
            f"{self.hits} hits{known}{errors}"
        )


def summarize(directory: Path) -> SessionSummary:
    results = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("plane-*.json"))]
    return SessionSummary(
        planes=len(results),
        secrets=sum(int(r["secrets"]) for r in results),
        places=sum(int(r["places_total"]) for r in results),
        hits=sum(len(r["hits"]) for r in results),
        known=sum(len(r["known"]) for r in results),
        errors=sum(len(r["errors"]) for r in results),
        leaking=tuple(str(r["plane"]) for r in results if r["hits"] or r["errors"]),
    )


def write_summary(directory: Path) -> tuple[SessionSummary, Path]:
    """Add up the planes' results and write them, merged, to ``summary.json`` in ``directory``."""
    summary = summarize(directory)
    planes = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("plane-*.json"))]
    path = directory / "summary.json"
    document = {"summary": summary.line(), "ssm_parameter_urls_known": SSM_PARAMETER_URLS_KNOWN, "planes": planes}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return summary, path


__all__ = [
    "PLACE_CATEGORIES",
    "RESULTS_DIR_ENV",
    "SSM_PARAMETER_URLS_KNOWN",
    "Hit",
    "Matcher",
    "Place",
    "Report",
    "Secret",
    "SecretLeak",
    "SessionSummary",
    "app_file_secrets",
    "is_known",
    "presigned_url_secrets",
    "private_key_needles",
    "results_dir",
    "scan",
    "secrets_from_secret_string",
    "summarize",
    "token_needles",
    "url_purpose",
    "write_result",
    "write_summary",
]
