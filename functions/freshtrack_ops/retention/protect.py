"""The protect task for one host: tag the backups to keep ``protected``, the rest ``expiring``.

Order matters so that an interrupted run errs towards keeping more:

1. every catalogued backup's dump is looked up; entries whose dump is gone (expired by the lifecycle rule,
   or deleted by hand) are set aside, so the policy always selects among backups that still exist;
2. the selected backups (dump AND manifest) are tagged ``protected`` first;
3. then the other backups are tagged ``expiring``;
4. then the entries set aside in 1. are forgotten (a manifest left behind is tagged ``expiring``).

Only tags that differ are written, other tags on the objects are preserved. A dump whose retention tag has
a value other than ``expiring``/``protected`` (e.g. ``retention=pinned`` set by an operator) is left as it
is: the lifecycle rule never expires it and this task never touches it.
"""

from __future__ import annotations

from datetime import datetime

from freshtrack_ops.ports import CatalogEntry, RetentionCatalog, TagStore
from freshtrack_ops.retention.models import HostRetention
from freshtrack_ops.retention.policy import RetentionPolicy, newest_first, protection_reasons
from freshtrack_ops.retention.tags import EXPIRING, PROTECTED, RETENTION_TAG

MANAGED_VALUES = frozenset({EXPIRING, PROTECTED})


class _Tagger:
    def __init__(self, tags: TagStore) -> None:
        self._tags = tags
        self.retagged: list[str] = []
        self.missing: list[str] = []

    def ensure(self, key: str, value: str, current: dict[str, str] | None = None) -> None:
        tags = current if current is not None else self._tags.get_tags(key)
        if tags is None:
            self.missing.append(key)
            return
        if tags.get(RETENTION_TAG) != value:
            self._tags.put_tags(key, {**tags, RETENTION_TAG: value})
            self.retagged.append(key)


def protect_host(
    host: str, catalog: RetentionCatalog, tags: TagStore, policy: RetentionPolicy, now: datetime
) -> HostRetention:
    present, gone, dump_tags = _split_by_presence(newest_first(catalog.list_backups(host)), tags)
    reasons = protection_reasons(present, policy, now)
    pinned = [e for e in present if dump_tags[e.dump_key].get(RETENTION_TAG, EXPIRING) not in MANAGED_VALUES]
    pinned_ids = {e.backup_id for e in pinned}
    protected = [e for e in present if e.backup_id in reasons and e.backup_id not in pinned_ids]
    expiring = [e for e in present if e.backup_id not in reasons and e.backup_id not in pinned_ids]

    tagger = _Tagger(tags)
    for value, group in ((PROTECTED, protected), (EXPIRING, expiring)):  # protect first: an interrupted run
        for entry in group:  # keeps more, never less
            tagger.ensure(entry.dump_key, value, dump_tags[entry.dump_key])
            tagger.ensure(entry.manifest_key, value)
    for entry in gone:
        manifest_tags = tags.get_tags(entry.manifest_key)
        if manifest_tags is not None and manifest_tags.get(RETENTION_TAG) == PROTECTED:
            tagger.ensure(entry.manifest_key, EXPIRING, manifest_tags)
        catalog.forget(entry)

    return HostRetention(
        protected=tuple(e.backup_id for e in protected),
        expiring=tuple(e.backup_id for e in expiring),
        pinned=tuple(e.backup_id for e in pinned),
        forgotten=tuple(e.backup_id for e in gone),
        reasons={e.backup_id: reasons[e.backup_id] for e in protected},
        retagged=tuple(tagger.retagged),
        missing_manifests=tuple(tagger.missing),
    )


def _split_by_presence(
    entries: list[CatalogEntry], tags: TagStore
) -> tuple[list[CatalogEntry], list[CatalogEntry], dict[str, dict[str, str]]]:
    """(catalogued backups whose dump exists, those whose dump is gone, the existing dumps' tags)."""
    present: list[CatalogEntry] = []
    gone: list[CatalogEntry] = []
    dump_tags: dict[str, dict[str, str]] = {}
    for entry in entries:
        found = tags.get_tags(entry.dump_key)
        if found is None:
            gone.append(entry)
        else:
            present.append(entry)
            dump_tags[entry.dump_key] = found
    return present, gone, dump_tags
