"""The retention tag every backup object carries: the bucket's lifecycle expires ``expiring`` objects only, and
``RetentionProtect`` tags the last verified backups ``protected`` (docs/retention.md)."""

from __future__ import annotations

RETENTION_TAG = "retention"
EXPIRING = "expiring"
PROTECTED = "protected"
