"""Retention that never loses the last good copies, and the RPO guard (docs/retention.md).

Expiry is decided by S3 object tags, not by a sweeper: the bucket's lifecycle rule expires only objects
tagged ``retention=expiring``; the protect task keeps the tags of the catalogued backups right.

- ``policy``: which backups to protect (a pure function of the catalog, the policy and the clock);
- ``protect``: applies it to one host's catalog and objects (tags, forgetting expired entries);
- ``rpo``: the age of each host's newest verified backup, as a CloudWatch metric;
- ``s3_tags``, ``catalog``: the adapters the two tasks use.
"""
