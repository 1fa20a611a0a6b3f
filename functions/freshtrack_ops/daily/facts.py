"""What daily_check.sh printed: ``<section>.<key>=<value>`` lines, each key with every value it was given.

The host reads, the control plane judges (daily/judge.py): the script prints what each command said and
nothing about thresholds. Keys that repeat (``ufw.rule``, ``fail2ban.banned_ip``, ``log.<query>.sample``) keep
their values in order. Log samples are redacted again here (``redact_log_line``): the host's own redaction is
defence in depth for what SSM stores, this one is what the report and the notification rely on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from freshtrack_ops.redact import redact_log_line

#: ``section.key=value``; the key has no ``=``, the value is the rest of the line (a log line may hold ``=``)
_LINE = re.compile(r"^([a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+)=(.*)$")
_INT = re.compile(r"^-?[0-9]{1,18}$")
_FLOAT = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,12})?$")
#: the longest value kept (a log sample is cut to 300 characters on the host already)
MAX_VALUE_CHARS = 1000
#: a key's values beyond this are dropped (50 banned IPs at most, 10 samples per query)
MAX_VALUES_PER_KEY = 60

Facts = dict[str, list[str]]


def parse_facts(stdout: str) -> Facts:
    facts: Facts = {}
    for line in stdout.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2)[:MAX_VALUE_CHARS]
        if key.endswith(".sample"):
            value = redact_log_line(value)
        values = facts.setdefault(key, [])
        if len(values) < MAX_VALUES_PER_KEY:
            values.append(value)
    return facts


def first(facts: Mapping[str, list[str]], key: str) -> str | None:
    values = facts.get(key)
    return values[0] if values else None


def number(facts: Mapping[str, list[str]], key: str) -> float | None:
    """The key's value as a number; None when absent or not a number."""
    value = first(facts, key)
    if value is None or not _FLOAT.match(value):
        return None
    return float(value)


def integer(facts: Mapping[str, list[str]], key: str) -> int | None:
    value = first(facts, key)
    return int(value) if value is not None and _INT.match(value) else None


_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kKMGTP]?B)")
_SIZE_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "PB": 1000**5}


def docker_size(text: str | None) -> int | None:
    """Bytes of a size as ``docker system df`` prints it (``1.2GB``, ``300MB (25%)``; decimal units, as docker's
    go-units ``HumanSize``); None when it is not one."""
    if text is None:
        return None
    match = _SIZE.match(text.strip())
    if match is None or match.group(2) not in _SIZE_UNITS:
        return None
    return round(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
