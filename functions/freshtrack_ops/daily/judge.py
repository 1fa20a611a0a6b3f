"""The daily check's findings: the host's facts (daily/facts.py) judged against the target's ``daily_check``
thresholds, plus the health answer and the newest verified backup, which the control plane knows.

Each check gives one finding (ok / warning / critical); a check whose reader failed on the host is a warning
("could not read"), never ok: a silent check must not look healthy. Figures are what the metrics, the
dashboard and the charts show; a figure the host could not read is absent, never zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from freshtrack_ops.config import Target
from freshtrack_ops.daily import checks
from freshtrack_ops.daily.facts import Facts
from freshtrack_ops.daily.judgement import BackupState, HealthAnswer, Judgement, band_text
from freshtrack_ops.daily.models import Level

Check = Callable[[Judgement, Target, Facts], None]


#: the checks of what the host reported, before and after the backup check (the manual's order)
HOST_CHECKS_BEFORE: tuple[Check, ...] = (
    checks.services,
    checks.resources,
    checks.disk,
    checks.docker_disk,
    checks.certificate,
)
HOST_CHECKS_AFTER: tuple[Check, ...] = (checks.logs, checks.firewall, checks.fail2ban, checks.reboot, checks.updates)


def judge(
    target: Target, facts: Facts | None, health: HealthAnswer, backup: BackupState, *, unread: str = ""
) -> Judgement:
    """Every finding of the day, in the manual's order: health, services, resources, disk, certificate, backup,
    logs, firewall, fail2ban, reboot, updates. ``facts`` None: nothing was read on the host (``unread`` says why);
    its checks would all say "not reported", so one critical ``host`` finding stands for them."""
    settings = target.daily_check
    result = Judgement()
    result.thresholds = {
        "cpu_percent": band_text(settings.cpu_percent),
        "memory_percent": band_text(settings.memory_percent),
        "disk_percent": band_text(settings.disk_percent),
        "backup_age_hours": band_text(settings.backup_age_hours),
        "certificate_days": f"{settings.certificate_warning_days}/{settings.certificate_critical_days}",
    }
    result.add("health", "ok" if health.ok else "critical", health.summary)
    if facts is None:
        checks.backup(result, target, backup)
        result.add("host", "critical", f"the host's checks could not run: {unread}")
    else:
        for step in HOST_CHECKS_BEFORE:
            step(result, target, facts)
        checks.backup(result, target, backup)
        for step in HOST_CHECKS_AFTER:
            step(result, target, facts)
    counts: Mapping[Level, int] = {
        level: sum(1 for f in result.findings if f.level == level) for level in ("warning", "critical")
    }
    result.figure("FindingsCritical", counts["critical"])
    result.figure("FindingsWarning", counts["warning"])
    return result
