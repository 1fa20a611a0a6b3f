"""A day of realistic backend and Caddy log lines for the local host's docker shim (``logs/<service>.log``, one
``<ISO timestamp> <message>`` per line: what ``docker compose logs`` prints), and the manual's log queries over
them, as the daily check's host script runs them (``host_scripts/daily_check.sh``), to know what it must count.

The backend logs as pino does (one JSON object per line: numeric ``level`` 30 info / 40 warn / 50 error, ``time``
in ms, ``req`` method and url, ``res.statusCode``, ``msg``) with a top-level ``response_time`` in ms, what the
manual's ``| json | response_time > 1000`` reads. Caddy's lines are its JSON access log (logger
``http.log.access.log0``, msg ``handled request``, ``request{...}``, ``duration`` in s, ``size``, ``status``; a
5xx at level ``error``, as Caddy logs it).

What ``realistic_lines`` seeds over the last 24 h (deterministic, ``random.Random(13)``): ordinary requests,
backend errors (``TypeError``: "error" in another case), slow requests (one at exactly 1000 ms, which is not slow,
and two lines whose only large ``response_time`` is nested, not top-level), authentication failures, database
errors, Caddy 4xx and 5xx; and a few errors older than the window, which no query may count. ONE secret is in a
line two queries sample: the newest database error carries a libpq connection string with
``password=SEEDED_SECRET``; the host redacts it before the line leaves the host.
"""

from __future__ import annotations

import fcntl
import json
import random
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: the one secret the seeded logs hold (a database password in an error line): no report may show it
SEEDED_SECRET = "Fr3sh-S33ded-Pa55word-7d41"  # noqa: S105 - a test fixture, the point is that it leaks nowhere
#: the manual's "Slow requests (> 1s)"
SLOW_MS = 1000
WINDOW = timedelta(hours=24)
_CADDY_STATUS = re.compile(r'"status": ?([1-5][0-9][0-9])[,}]')

Stamped = tuple[datetime, str]


def iso(when: datetime) -> str:
    """The shim's timestamp (state.iso): fixed width, so the lines of a file sort by it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the queries -------------------------------------------------------------------------------------
def _top_level_number(line: str, key: str) -> float | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def backend_queries(line: str, slow_ms: int = SLOW_MS) -> set[str]:
    """The manual's backend queries a line matches (case-insensitive, as the daily check runs them)."""
    low = line.lower()
    found = set()
    if "error" in low:
        found.add("backend_errors")
    if "authentication failed" in low:
        found.add("auth_failures")
    if "database" in low and "error" in low:
        found.add("database_errors")
    response_time = _top_level_number(line, "response_time")
    if response_time is not None and response_time > slow_ms:
        found.add("slow_requests")
    return found


def caddy_queries(line: str) -> set[str]:
    match = _CADDY_STATUS.search(line)
    if match is None or match.group(1)[0] not in "45":
        return set()
    return {f"caddy_{match.group(1)[0]}xx"}


QUERIES = ("backend_errors", "slow_requests", "auth_failures", "database_errors", "caddy_4xx", "caddy_5xx")


def count_queries(backend: Iterable[str], caddy: Iterable[str], slow_ms: int = SLOW_MS) -> dict[str, int]:
    counts = dict.fromkeys(QUERIES, 0)
    for line in backend:
        for query in backend_queries(line, slow_ms):
            counts[query] += 1
    for line in caddy:
        for query in caddy_queries(line):
            counts[query] += 1
    return counts


# -- the lines ---------------------------------------------------------------------------------------
_URLS = ("/api/sensors", "/api/readings", "/api/alerts", "/api/locations", "/api/health", "/api/auth/login")
_USERS = ("ops@freshtrack.example", "kitchen@freshtrack.example", "qa@freshtrack.example", "admin@freshtrack.example")


def _pino(when: datetime, level: int, msg: str, **fields: Any) -> str:
    record: dict[str, Any] = {"level": level, "time": int(when.timestamp() * 1000), "pid": 1, "hostname": "backend"}
    record.update(fields)
    record["msg"] = msg
    return json.dumps(record, separators=(",", ":"))


def _request(when: datetime, rng: random.Random, response_time: int, status: int = 200, **extra: Any) -> str:
    method = rng.choice(("GET", "GET", "GET", "POST"))
    return _pino(
        when,
        30 if status < 500 else 50,
        "request completed",
        req={"id": rng.randrange(1, 10**6), "method": method, "url": rng.choice(_URLS)},
        res={"statusCode": status},
        response_time=response_time,
        **extra,
    )


def _caddy(when: datetime, rng: random.Random, status: int) -> str:
    uri = rng.choice((*_URLS, "/", "/assets/app.js", "/favicon.ico", "/wp-login.php"))
    record = {
        "level": "error" if status >= 500 else "info",
        "ts": round(when.timestamp(), 6),
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": f"203.0.113.{rng.randrange(1, 255)}",
            "remote_port": str(rng.randrange(30000, 65000)),
            "client_ip": f"203.0.113.{rng.randrange(1, 255)}",
            "proto": "HTTP/2.0",
            "method": "GET",
            "host": "demo.freshtrack.local",
            "uri": uri,
            "headers": {"User-Agent": ["Mozilla/5.0 (X11; Linux x86_64)"], "Accept": ["*/*"]},
            "tls": {"resumed": False, "version": 772, "cipher_suite": 4865, "proto": "h2", "server_name": "demo"},
        },
        "bytes_read": 0,
        "user_id": "",
        "duration": round(rng.uniform(0.0005, 0.25), 6),
        "size": rng.randrange(0, 40000),
        "status": status,
        "resp_headers": {"Server": ["Caddy"], "Content-Type": ["application/json"]},
    }
    return json.dumps(record, separators=(",", ":"))


def _spread(rng: random.Random, now: datetime, count: int) -> list[datetime]:
    """``count`` moments within the last 23.5 h (never in the last 10 minutes: the newest are placed by hand)."""
    return [now - timedelta(seconds=rng.uniform(600, 23.5 * 3600)) for _ in range(count)]


def _backend_lines(rng: random.Random, now: datetime) -> list[Stamped]:
    lines: list[Stamped] = [(t, _request(t, rng, rng.randrange(3, 400))) for t in _spread(rng, now, 600)]
    lines += [(t, _request(t, rng, rng.randrange(1001, 4800))) for t in _spread(rng, now, 23)]
    at_limit = now - timedelta(hours=3)
    lines.append((at_limit, _request(at_limit, rng, SLOW_MS)))  # 1000 ms: not "> 1000"
    for t in _spread(rng, now, 2):  # a slow upstream inside a fast request: not a slow request
        lines.append((t, _request(t, rng, 35, upstream={"service": "weather", "response_time": 2400})))
    for t in _spread(rng, now, 11):
        err = {"type": "TypeError", "message": "Cannot read properties of undefined (reading 'threshold')"}
        lines.append((t, _pino(t, 50, "alert evaluation failed", err=err, sensorId=rng.randrange(1, 400))))
    for t in _spread(rng, now, 31):
        user = rng.choice(_USERS)
        lines.append((t, _pino(t, 40, f"authentication failed for {user}: invalid credentials", ip="198.51.100.7")))
    for t in _spread(rng, now, 2):
        err = {"type": "DatabaseError", "code": "57014", "message": "canceling statement due to statement timeout"}
        lines.append((t, _pino(t, 50, "database error: readings query timed out", err=err)))
    newest = now - timedelta(minutes=5)  # the newest error of all: every sample of both queries shows it
    conninfo = f"host=postgres port=5432 user=frostguard password={SEEDED_SECRET} dbname=frostguard"
    err = {"type": "Error", "code": "ECONNREFUSED", "message": "connect ECONNREFUSED 172.18.0.3:5432"}
    lines.append((newest, _pino(newest, 50, f"database error: connection failed ({conninfo})", err=err)))
    return lines


def _caddy_lines(rng: random.Random, now: datetime) -> list[Stamped]:
    lines = [(t, _caddy(t, rng, rng.choice((200, 200, 200, 304, 101)))) for t in _spread(rng, now, 700)]
    lines += [(t, _caddy(t, rng, rng.choice((404, 404, 401, 403, 429)))) for t in _spread(rng, now, 120)]
    lines += [(t, _caddy(t, rng, rng.choice((502, 503, 500)))) for t in _spread(rng, now, 4)]
    return lines


def _too_old(rng: random.Random, now: datetime) -> dict[str, list[Stamped]]:
    """Errors of yesterday and before, outside the window."""
    old = [now - timedelta(hours=hours) for hours in (25, 30, 47)]
    return {
        "backend": [(t, _pino(t, 50, "database error: too many clients already")) for t in old],
        "caddy": [(t, _caddy(t, rng, 502)) for t in old],
    }


def realistic_lines(now: datetime | None = None) -> dict[str, list[Stamped]]:
    """The seeded lines per service (``backend``, ``caddy``), oldest first."""
    now = now or datetime.now(UTC)
    rng = random.Random(13)  # noqa: S311 - reproducible log lines, nothing secret
    old = _too_old(rng, now)
    lines = {"backend": old["backend"] + _backend_lines(rng, now), "caddy": old["caddy"] + _caddy_lines(rng, now)}
    return {service: sorted(stamped, key=lambda item: item[0]) for service, stamped in lines.items()}


def window_counts(
    lines: dict[str, list[Stamped]], now: datetime, window: timedelta = WINDOW, slow_ms: int = SLOW_MS
) -> dict[str, int]:
    """What each query counts of ``lines`` within ``window`` before ``now`` (slow: above ``slow_ms``)."""

    def recent(service: str) -> list[str]:
        return [message for when, message in lines.get(service, []) if when >= now - window]

    return count_queries(recent("backend"), recent("caddy"), slow_ms)


# -- the log files -----------------------------------------------------------------------------------
def append(logs_dir: Path, service: str, stamped: Sequence[Stamped]) -> None:
    """Add lines to ``logs/<service>.log``, the file kept in time order (under the lock the shim's writers take)."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / f"{service}.log"
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        current = fh.read().splitlines()
        added = [f"{iso(when)} {message}" for when, message in stamped]
        # the timestamp is fixed width: a stable sort by it keeps lines of the same moment in their order
        merged = sorted(current + added, key=lambda line: line.partition(" ")[0])
        fh.seek(0)
        fh.truncate()
        fh.writelines(f"{line}\n" for line in merged)


def clear(logs_dir: Path) -> None:
    """Empty every service's log (a host whose logs hold nothing in the window)."""
    for path in logs_dir.glob("*.log"):
        with path.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.truncate(0)
