"""Condition-key values that both the grant code (stacks/dr_grants.py) and the local plane's call -> authorization
table (opsctl/local/iam_actions.py) compute. Pure: no aws_cdk, so the plane's mapping imports it cheaply."""

from __future__ import annotations

#: what Route 53 leaves as is in ``route53:ChangeResourceRecordSetsNormalizedRecordNames``
_ROUTE53_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def normalized_record_name(name: str) -> str:
    """A record name as ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` carries it.

    The Route 53 developer guide ("Using IAM policy conditions for fine-grained access control", "Normalizing the
    Route 53 condition key values"): all letters lower case, the DNS name without the trailing dot, and characters
    other than a-z, 0-9, - (hyphen), _ (underscore) and . (period, as a delimiter between labels) as escape codes
    ``\\`` + three-digit octal code (``\\052`` is ``*``). Route 53 treats ``www.example.com`` and
    ``www.example.com.`` as the same name (API reference, ResourceRecordSet.Name), so both normalize alike.
    """
    return "".join(c if c in _ROUTE53_PLAIN else f"\\{ord(c):03o}" for c in name.lower().removesuffix("."))
