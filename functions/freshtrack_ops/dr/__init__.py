"""Disaster recovery onto another server: the request, its guards, the replacement's host key
(docs/disaster-recovery.md)."""
