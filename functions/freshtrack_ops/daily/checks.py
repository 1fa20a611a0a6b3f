"""One function per check of the daily check: reads the facts, adds its finding(s) and figures to the Judgement.

Sources: the manual's "Daily Operations" (health, ``compose ps``, ``docker stats``, ``df -h``, ``docker system df``,
log review), "Key metrics to watch" (CPU/memory/disk bands), "SSL Certificate Renewal", "Firewall Management"
(the default rules), "Fail2ban Management" and "System Updates" (security updates, reboot-required).
"""

from __future__ import annotations

from freshtrack_ops.config import Target
from freshtrack_ops.daily.facts import Facts, docker_size, first, integer, number
from freshtrack_ops.daily.judgement import BackupState, Judgement, band_text, level_of
from freshtrack_ops.daily.models import Level
from freshtrack_ops.daily.settings import LOG_QUERIES, LogQuery

RUNNING = "running"
#: the figure each log query feeds
LOG_FIGURES: dict[LogQuery, str] = {
    "backend_errors": "BackendErrors",
    "slow_requests": "SlowRequests",
    "auth_failures": "AuthFailures",
    "database_errors": "DatabaseErrors",
    "caddy_4xx": "Caddy4xx",
    "caddy_5xx": "Caddy5xx",
}
LOG_TITLES: dict[LogQuery, str] = {
    "backend_errors": "backend errors",
    "slow_requests": "slow requests",
    "auth_failures": "authentication failures",
    "database_errors": "database errors",
    "caddy_4xx": "Caddy 4xx responses",
    "caddy_5xx": "Caddy 5xx responses",
}
DOCKER_DF_TYPES = ("images", "containers", "volumes", "build_cache")


def _unreadable(result: Judgement, check: str, facts: Facts, section: str) -> bool:
    """A ``<section>.error`` line: the check is a warning that says what failed; True when so."""
    error = first(facts, f"{section}.error")
    if error is None:
        return False
    result.add(check, "warning", f"could not read: {error}")
    return True


def services(result: Judgement, target: Target, facts: Facts) -> None:
    if _unreadable(result, "services", facts, "service"):
        return
    states = {name: first(facts, f"service.{name}") or "not reported" for name in target.compose_services}
    down = [f"{name} ({state})" for name, state in states.items() if state != RUNNING]
    if down:
        result.add("services", "critical", f"not running: {', '.join(down)}")
    else:
        result.add("services", "ok", f"all {len(states)} services running")


def _highest(target: Target, facts: Facts, metric: str) -> tuple[str, float] | None:
    values = {
        name: value
        for name in target.compose_services
        if (value := number(facts, f"stats.{name}.{metric}")) is not None
    }
    if not values:
        return None
    name = max(values, key=values.__getitem__)
    return name, values[name]


def resources(result: Judgement, target: Target, facts: Facts) -> None:
    """CPU and memory of the busiest container (``docker stats --no-stream``), against the manual's bands."""
    settings = target.daily_check
    if _unreadable(result, "cpu", facts, "stats"):
        result.add("memory", "warning", "could not read docker stats")
        return
    for check, metric, band, figure in (
        ("cpu", "cpu", settings.cpu_percent, "CpuPercentMax"),
        ("memory", "mem", settings.memory_percent, "MemoryPercentMax"),
    ):
        highest = _highest(target, facts, metric)
        if highest is None:
            result.add(check, "warning", "docker stats reported no running service container")
            continue
        name, value = highest
        result.figure(figure, value)
        level = level_of(value, band)
        result.add(
            check, level, f"highest {name} at {value:g}% (warning {band.warning:g}%, critical {band.critical:g}%)"
        )


def disk(result: Judgement, target: Target, facts: Facts) -> None:
    """``df`` of the app directory's filesystem and of ``/`` (one finding when they are the same filesystem)."""
    band = target.daily_check.disk_percent
    if _unreadable(result, "disk", facts, "disk"):
        return
    mounts = {first(facts, "disk.app.mount"), first(facts, "disk.root.mount")}
    for which, check, figure in (("app", "disk", "DiskUsedPercent"), ("root", "disk-root", "RootDiskUsedPercent")):
        used = number(facts, f"disk.{which}.used_percent")
        result.figure(figure, used)
        if which == "root" and len(mounts) == 1:
            continue  # / is the app directory's filesystem: already judged
        mount = first(facts, f"disk.{which}.mount") or "?"
        if used is None:
            result.add(check, "warning", f"df reported no use of {mount}")
            continue
        available = integer(facts, f"disk.{which}.available_kb")
        free = f", {available / 1024 / 1024:.1f} GiB free" if available is not None else ""
        result.add(check, level_of(used, band), f"{mount} is {used:g}% used{free} (warning {band_text(band)}%)")


def docker_disk(result: Judgement, target: Target, facts: Facts) -> None:
    """``docker system df``: informational (what a prune would reclaim), never a level of its own."""
    if _unreadable(result, "docker-disk", facts, "docker_df"):
        return
    parts: list[str] = []
    reclaimable = 0
    for kind in DOCKER_DF_TYPES:
        size = first(facts, f"docker_df.{kind}.size")
        if size is None:
            continue
        recl = first(facts, f"docker_df.{kind}.reclaimable") or "0B"
        reclaimable += docker_size(recl) or 0
        parts.append(f"{kind.replace('_', ' ')} {size} ({recl} reclaimable)")
    if not parts:
        result.add("docker-disk", "warning", "docker system df reported nothing")
        return
    result.figure("DockerReclaimableBytes", reclaimable)
    result.add("docker-disk", "ok", "; ".join(parts))


def certificate(result: Judgement, target: Target, facts: Facts) -> None:
    settings = target.daily_check
    where = f"127.0.0.1:{target.remediation.certificate_port} for {target.domain}"
    seconds = integer(facts, "cert.seconds_left")
    if seconds is None:
        detail = first(facts, "cert.error") or first(facts, "cert.certificate") or "no answer"
        result.add("certificate", "critical", f"no certificate read on {where}: {detail}")
        return
    days = seconds / 86_400
    result.figure("CertificateDaysLeft", days)
    until = first(facts, "cert.not_after") or "?"
    level: Level = "ok"
    if seconds <= 0 or days < settings.certificate_critical_days:
        level = "critical"
    elif days < settings.certificate_warning_days:
        level = "warning"
    state = f"expired {until}" if seconds <= 0 else f"valid until {until} ({days:.1f} days left)"
    result.add("certificate", level, f"the certificate on {where} is {state}")


def backup(result: Judgement, target: Target, state: BackupState) -> None:
    band = target.daily_check.backup_age_hours
    if state.backup_id is None or state.age_hours is None:
        result.add("backup", "critical", "no verified backup: the last test restore never passed")
        return
    result.figure("BackupAgeHours", state.age_hours)
    result.figure("BackupSizeBytes", state.size_bytes)
    size = f", {state.size_bytes / 1024 / 1024:.1f} MiB" if state.size_bytes is not None else ""
    result.add(
        "backup",
        level_of(state.age_hours, band),
        f"newest verified backup {state.backup_id} is {state.age_hours:.1f} h old{size} (warning {band_text(band)} h)",
    )


def logs(result: Judgement, target: Target, facts: Facts) -> None:
    settings = target.daily_check
    window = first(facts, "log.window") or f"{settings.log_window_hours}h"
    if _unreadable(result, "logs", facts, "log"):
        return
    for query in LOG_QUERIES:
        check = f"logs.{query}"
        count = integer(facts, f"log.{query}.count")
        if count is None:
            result.add(check, "warning", f"could not count {LOG_TITLES[query]}")
            continue
        result.figure(LOG_FIGURES[query], count)
        band = settings.log_bands[query]
        samples = tuple(facts.get(f"log.{query}.sample", ()))[: settings.log_samples]
        result.add(check, level_of(count, band), f"{count} {LOG_TITLES[query]} in the last {window}", samples)


def firewall(result: Judgement, target: Target, facts: Facts) -> None:
    """``ufw status verbose`` against the expected rules: active, inbound denied by default, exactly the
    configured ALLOW/LIMIT rules (v4 and v6 lines alike); anything else is drift."""
    if _unreadable(result, "firewall", facts, "ufw"):
        return
    status = first(facts, "ufw.status")
    if status != "active":
        result.add("firewall", "critical", f"ufw is {status or 'not reported'}: nothing filters inbound traffic")
        return
    default = first(facts, "ufw.default_incoming")
    found = {_rule_key(line) for line in facts.get("ufw.rule", [])} - {None}
    expected = {rule.key for rule in target.daily_check.firewall_rules}
    missing, extra = sorted(expected - found), sorted(str(k) for k in found - expected)
    drift = [f"missing: {key}" for key in missing] + [f"not expected: {key}" for key in extra]
    if default != "deny":
        drift.insert(0, f"default incoming policy is {default or 'not reported'}, expected deny")
    if drift:
        level: Level = "critical" if default != "deny" else "warning"
        result.add(
            "firewall", level, f"firewall drift: {len(drift)} difference(s) from the expected rules", tuple(drift)
        )
    else:
        result.add("firewall", "ok", f"active, inbound denied except {', '.join(sorted(expected))}")


def _rule_key(line: str) -> str | None:
    """``22/tcp (v6)|ALLOW IN|Anywhere (v6)`` -> ``22/tcp ALLOW from Anywhere``; None for what is not an inbound
    allow/limit rule (DENY/REJECT rules and outbound rules tighten, they are not drift)."""
    to, _, rest = line.partition("|")
    action, _, source = rest.partition("|")
    verb = action.split(" ")[0]
    if verb not in ("ALLOW", "LIMIT") or "OUT" in action:
        return None
    to, source = to.replace("(v6)", "").strip(), source.replace("(v6)", "").strip()
    return f"{to} {verb} from {source}"


def fail2ban(result: Judgement, target: Target, facts: Facts) -> None:
    jail = target.daily_check.fail2ban_jail
    if _unreadable(result, "fail2ban", facts, "fail2ban"):
        return
    status = first(facts, "fail2ban.status")
    if status != "running":
        result.add("fail2ban", "warning", f"fail2ban is {status or 'not reported'}: jail {jail} bans nobody")
        return
    banned = integer(facts, "fail2ban.currently_banned")
    total = integer(facts, "fail2ban.total_banned")
    result.figure("BannedIps", banned)
    ips = tuple(facts.get("fail2ban.banned_ip", ()))
    result.add(
        "fail2ban", "ok", f"jail {jail}: {banned if banned is not None else '?'} banned now, {total} in all", ips
    )


def reboot(result: Judgement, target: Target, facts: Facts) -> None:
    if _unreadable(result, "reboot", facts, "system"):
        return
    if first(facts, "system.reboot_required") == "yes":
        packages = first(facts, "system.reboot_packages") or "unknown packages"
        result.add("reboot", "warning", f"a reboot is required (for {packages}); services start again on boot")
    else:
        result.add("reboot", "ok", "no reboot required")


def updates(result: Judgement, target: Target, facts: Facts) -> None:
    security, every = integer(facts, "system.security_updates"), integer(facts, "system.updates")
    if security is None:
        result.add("updates", "warning", "could not count pending updates")
        return
    result.figure("SecurityUpdates", security)
    if security > 0:
        result.add("updates", "warning", f"{security} security update(s) pending ({every} in all)")
    else:
        result.add("updates", "ok", f"no security updates pending ({every} in all)")
