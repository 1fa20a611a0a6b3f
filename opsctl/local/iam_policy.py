"""Identity-based policy evaluation, as IAM does it for one role (no CDK, no boto3: pure and unit-tested).

What is modelled (the IAM user guide, "Policy evaluation logic" and "IAM JSON policy elements"):

* a request is (action, resource, condition context); it is allowed when some ``Allow`` statement matches it
  and no ``Deny`` statement does (an explicit deny wins; no match is an implicit deny);
* ``Action``/``NotAction`` match case-insensitively (action names are), ``Resource``/``NotResource``
  case-sensitively, both with the ``*`` and ``?`` wildcards ("IAM JSON policy elements: Resource": "You can
  use wildcard characters (* and ?) within any ARN segment");
* ``Condition``: the operators the task roles use, each key's values OR'ed, keys and operators AND'ed
  ("IAM JSON policy elements: Condition operators"):

  - ``StringEquals``/``StringLike`` and their ``Not`` forms (``*`` and ``?`` in ``Like`` values, case-sensitive);
  - ``ArnEquals``/``ArnLike`` and their ``Not`` forms: "Case-sensitive matching of the ARN. Each of the six
    colon-delimited components of the ARN is checked separately and each can include multi-character match
    wildcards (*) or single-character match wildcards (?)" (``ArnEquals`` and ``ArnLike`` behave alike);
  - a key missing from the request makes these false ("If the key that you specify in a policy condition is not
    present in the request context, the values do not match and the condition is false") and their ``Not``
    forms true;
  - ``Null``: ``"true"`` holds when the key is absent (or an empty set), ``"false"`` when it is present;
  - the set operators ``ForAllValues:`` and ``ForAnyValue:`` in front of the string and ARN operators, for
    multivalued keys ("Single-valued vs. multivalued context keys"): ``ForAllValues`` holds when every value of
    the request's set matches the operator (a value matches when it matches one of the policy's values), and
    "also returns true if there are no context keys in the request" (a missing key or an empty set): hence the
    ``Null: false`` the guide recommends next to it ("Multivalued context key examples"); ``ForAnyValue``
    holds when at least one value matches, and is false for a missing key or an empty set.

  A multivalued key (a tuple in the request) tested with an operator without a set qualifier, and any other
  operator (``Bool``, ``...IfExists``, numeric, date, IP), raise ``UnsupportedPolicy``: a policy the plane
  cannot evaluate exactly fails loudly instead of being half-evaluated.

Not modelled: resource-based policies (bucket, key, topic policies), permission boundaries, SCPs, session
policies: the task roles' own statements are the only thing a deployed task's call depends on that the code
can get wrong, and the other layers are not used by this project (the key policy delegates to IAM).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any


class UnsupportedPolicy(ValueError):
    """A policy element the plane does not evaluate (it must be modelled before a task role uses it)."""


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for an API call (a call may need several: CopyObject, SendCommand, SSE-KMS)."""

    action: str
    resource: str
    #: condition keys of the request (e.g. ``s3:prefix``); a key absent here is absent from the request; a
    #: multivalued key (``aws:TagKeys``, ``dynamodb:LeadingKeys``, Route 53's change-batch keys) is a tuple
    context: Mapping[str, ContextValue] = field(default_factory=dict)


ContextValue = str | tuple[str, ...]
#: the operators evaluated on each value (``Null`` tests presence); ``ForAllValues:``/``ForAnyValue:`` may
#: precede any of them
_VALUE_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "ArnEquals",
        "ArnNotEquals",
        "ArnLike",
        "ArnNotLike",
    }
)
_SET_QUALIFIERS = frozenset({"ForAllValues", "ForAnyValue"})


def _check_operator(operator: str) -> None:
    qualifier, _, base = operator.rpartition(":")
    if operator == "Null" or (base in _VALUE_OPERATORS and (not qualifier or qualifier in _SET_QUALIFIERS)):
        return
    raise UnsupportedPolicy(f"statement: condition operator not evaluated here (got {operator!r})")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    #: operator -> key -> values
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    sid: str = ""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Statement:
        unknown = set(raw) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise UnsupportedPolicy(f"statement: unsupported elements {sorted(unknown)} (got {dict(raw)})")
        if raw.get("Effect") not in {"Allow", "Deny"}:
            raise UnsupportedPolicy(f"statement: Effect must be Allow or Deny (got {raw.get('Effect')!r})")
        conditions: dict[str, dict[str, tuple[str, ...]]] = {}
        for operator, keys in dict(raw.get("Condition", {})).items():
            _check_operator(operator)
            conditions[operator] = {key: _strings(values) for key, values in dict(keys).items()}
        return cls(
            effect=str(raw["Effect"]),
            actions=_strings(raw.get("Action", ())),
            not_actions=_strings(raw.get("NotAction", ())),
            resources=_strings(raw.get("Resource", ())),
            not_resources=_strings(raw.get("NotResource", ())),
            conditions=conditions,
            sid=str(raw.get("Sid", "")),
        )

    def matches(self, request: Request) -> bool:
        return (
            self._action_matches(request.action)
            and self._resource_matches(request.resource)
            and all(
                _condition_holds(operator, key, values, request.context)
                for operator, keys in self.conditions.items()
                for key, values in keys.items()
            )
        )

    def _action_matches(self, action: str) -> bool:
        if self.not_actions:
            return not any(action_matches(pattern, action) for pattern in self.not_actions)
        return any(action_matches(pattern, action) for pattern in self.actions)

    def _resource_matches(self, resource: str) -> bool:
        if self.not_resources:
            return not any(_wildcard(pattern, resource) for pattern in self.not_resources)
        return any(_wildcard(pattern, resource) for pattern in self.resources)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    @classmethod
    def from_statements(cls, statements: Iterable[Mapping[str, Any]]) -> Policy:
        return cls(tuple(Statement.from_json(raw) for raw in statements))

    def decide(self, request: Request) -> Decision:
        matching = [st for st in self.statements if st.matches(request)]
        if any(st.effect == "Deny" for st in matching):
            return Decision.EXPLICIT_DENY
        return Decision.ALLOW if matching else Decision.IMPLICIT_DENY

    def denied(self, requests: Sequence[Request]) -> tuple[Request, Decision] | None:
        """The first request of an API call that is not allowed (and why), or None: the call is allowed."""
        for request in requests:
            decision = self.decide(request)
            if decision is not Decision.ALLOW:
                return request, decision
        return None


def _strings(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _condition_holds(operator: str, key: str, values: tuple[str, ...], context: Mapping[str, ContextValue]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    actual = context.get(key)
    members: tuple[str, ...] = () if actual is None else (actual,) if isinstance(actual, str) else tuple(actual)
    if base == "Null":
        # "true": the key is absent (no value); "false": it is present
        return any((value.lower() == "true") == (not members) for value in values)
    if qualifier == "ForAllValues":
        return all(_value_matches(base, member, values) for member in members)  # no value: true
    if qualifier == "ForAnyValue":
        return any(_value_matches(base, member, values) for member in members)  # no value: false
    if actual is None:
        return "Not" in base
    if not isinstance(actual, str):
        raise UnsupportedPolicy(
            f"condition: {operator} on the multivalued key {key!r} (values {list(actual)}): a multivalued key "
            "needs ForAllValues: or ForAnyValue:"
        )
    return _value_matches(base, actual, values)


def _value_matches(base: str, actual: str, values: tuple[str, ...]) -> bool:
    """One request value against the policy's values (OR'ed) under a string or ARN operator."""
    negated = "Not" in base
    if base.startswith("Arn"):
        found = any(_arn_matches(value, actual) for value in values)
    elif base.endswith("Like"):
        found = any(_wildcard(value, actual) for value in values)
    else:
        found = actual in values
    return found != negated


def action_matches(pattern: str, action: str) -> bool:
    """An ``Action`` element's entry against an action name, as IAM compares them: case-insensitively, with ``*``
    and ``?`` (also what tests/infra checks the templates' actions against the known actions with)."""
    return _wildcard(pattern, action, fold=True)


def _arn_matches(pattern: str, arn: str) -> bool:
    """ArnEquals/ArnLike: the six colon-separated components compared one by one, each with ``*``/``?``."""
    expected, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(expected) != 6 or len(actual) != 6:
        return False
    return all(_wildcard(part, value) for part, value in zip(expected, actual, strict=True))


def _wildcard(pattern: str, value: str, *, fold: bool = False) -> bool:
    return _compiled(pattern, fold).fullmatch(value) is not None


@cache
def _compiled(pattern: str, fold: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if fold else re.DOTALL)
