"""EventBridge Scheduler expressions, checked before CloudFormation sees them (no pydantic, no config:
settings modules that config.py imports use it too)."""

from __future__ import annotations

import re

#: what each field of an EventBridge Scheduler cron expression may hold (minutes, hours, day-of-month, month,
#: day-of-week, year): the values and wildcards of the "Cron expressions reference" (EventBridge user guide)
_CRON_FIELDS = (
    ("minutes", r"[0-9,*/-]+"),
    ("hours", r"[0-9,*/-]+"),
    ("day-of-month", r"[0-9,*?/LW-]+"),
    ("month", r"([0-9]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|[,*/-])+"),
    ("day-of-week", r"([0-9]|SUN|MON|TUE|WED|THU|FRI|SAT|[,*?L#-])+"),
    ("year", r"[0-9,*/-]+"),
)


def scheduler_cron(expression: str) -> str:
    """An EventBridge Scheduler ``cron(...)`` expression: six fields separated by spaces, each with the values and
    wildcards its field takes, and ``?`` in exactly one of day-of-month and day-of-week ("You can't specify the
    Day-of-month and Day-of-week fields in the same cron expression": EventBridge's cron reference). The
    service still has the last word (e.g. ranges); this catches what a typo makes of a schedule."""
    match = re.fullmatch(r"cron\(([^()]*)\)", expression)
    if match is None:
        raise ValueError("expected cron(minutes hours day-of-month month day-of-week year)")
    fields = match.group(1).split(" ")
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(f"a cron expression has {len(_CRON_FIELDS)} fields separated by single spaces")
    for (name, pattern), value in zip(_CRON_FIELDS, fields, strict=True):
        if not re.fullmatch(pattern, value):
            raise ValueError(f"the {name} field {value!r} is not a value EventBridge Scheduler takes there")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError("exactly one of day-of-month and day-of-week must be '?'")
    return expression
