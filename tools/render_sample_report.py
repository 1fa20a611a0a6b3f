"""Write a sample daily report page and its screenshot in Debian's headless Chromium, to look at.

    python tools/render_sample_report.py [OUT_DIR]     # default build/sample-report/

It writes ``daily-report.html`` and ``daily-report.png`` (1280x2000). The made-up report is also what
tests/integration/test_daily_report_html.py renders: 30 days with a trend, gaps, and findings of each level.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from freshtrack_ops.daily.html import render_report
from freshtrack_ops.daily.models import DailyReport, Finding, HistoryPoint

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1280, 2000)
#: Chromium's first start in a fresh profile took 5.4 s here (2 shared cores); the page itself renders at once
CHROMIUM_TIMEOUT_S = 90


def _figures(day: int, days: int) -> dict[str, float]:
    """Day ``day`` of ``days`` (the last is today): disk creeping up, memory wavering, backups growing, a few
    errors a day with today's spike."""
    figures = {
        "DiskUsedPercent": round(52 + 26 * day / (days - 1), 1),
        "RootDiskUsedPercent": round(31 + 4 * day / (days - 1), 1),
        "MemoryPercentMax": float(58 + (day * 7) % 17),
        "CpuPercentMax": float(12 + (day * 5) % 23),
        "BackupSizeBytes": float(1_350_000_000 + 9_500_000 * day),
        "BackupAgeHours": float(4 + day % 3),
        "BackendErrors": float((day * 3) % 7),
        "Caddy5xx": float(day % 4 == 0),
        "DatabaseErrors": 0.0,
        "AuthFailures": float((day * 5) % 9),
        "CertificateDaysLeft": float(50 - day),
        "BannedIps": float(day % 5),
    }
    if day == days - 1:  # today: the backup did not run last night, the backend had a bad hour
        figures.update(BackupAgeHours=31.0, BackendErrors=41.0, Caddy5xx=63.0, DatabaseErrors=4.0)
    return figures


def sample_report(days: int = 30, today: str = "2025-06-30") -> DailyReport:
    """A critical report with ``days`` days of history (today's included). Day 11 has no backup figures (the
    backup check could not read them); day 19 has no report at all (a gap in every chart)."""
    end = date.fromisoformat(today)
    history: list[HistoryPoint] = []
    for day in range(days):
        when = end - timedelta(days=days - 1 - day)
        if day == 19 and days > 20:
            continue
        figures = _figures(day, days)
        if day == 11:
            figures = {k: v for k, v in figures.items() if not k.startswith("Backup")}
        history.append(HistoryPoint(date=when.isoformat(), figures=figures))
    findings = (
        Finding(check="backup", level="critical", summary="newest verified backup is 31 h old (critical at 26 h)"),
        Finding(
            check="logs.caddy_5xx",
            level="critical",
            summary="63 Caddy 5xx responses in 24 h (critical at 50)",
            samples=(
                '{"level":"error","status":502,"uri":"/api/v1/items?q=<script>alert(1)</script>"}',
                '{"level":"error","status":504,"uri":"/api/v1/reports","duration":30.01}',
            ),
        ),
        Finding(check="disk", level="warning", summary="app filesystem 78 % used (warning at 70 %)"),
        Finding(
            check="logs.backend_errors",
            level="warning",
            summary="41 backend error lines in 24 h (warning at 10)",
            samples=(
                "2025-06-30T03:12:09Z ERROR db pool exhausted; retrying in 1s",
                "2025-06-30T03:12:11Z ERROR login failed for user=ops password=[REDACTED]",
                "2025-06-30T03:14:40Z ERROR upstream timeout after 30000 ms & giving up",
            ),
        ),
        Finding(
            check="firewall",
            level="warning",
            summary="ufw differs from the deployment's rules",
            samples=("unexpected: 8080/tcp ALLOW IN Anywhere", "missing: 443/tcp ALLOW IN Anywhere"),
        ),
        Finding(check="health", level="ok", summary="https://app.example.com/health answered 200 in 84 ms"),
        Finding(check="services", level="ok", summary="4 of 4 services running"),
        Finding(check="memory", level="ok", summary="highest container memory 62 % (backend)"),
        Finding(check="certificate", level="ok", summary="certificate valid for 21 more days"),
        Finding(check="fail2ban", level="ok", summary="sshd jail bans 4 IPs"),
    )
    return DailyReport(
        target="demo",
        domain="app.example.com",
        date=today,
        generated_at=f"{today}T07:00:41Z",
        execution_id=f"arn:aws:states:eu-west-1:123456789012:execution:daily-check:demo-{today}",
        verdict="critical",
        findings=findings,
        figures=history[-1].figures,
        history=tuple(history),
        thresholds={"disk_percent": "70/85", "memory_percent": "80/95", "backup_age_hours": "25/26"},
    )


def chromium() -> str:
    """Debian's ``chromium`` launcher (the package puts it on PATH)."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium: not on PATH (apt-get install chromium; make sysdeps installs it)")
    return path


def capture(page: Path, png: Path, window: tuple[int, int] = WINDOW) -> str:
    """One headless Chromium run: a screenshot of ``page`` into ``png``, and the DOM after parsing (returned).

    --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start. A throw-away profile so that
    two runs (two xdist workers) never share one profile's lock."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        run = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={window[0]},{window[1]}",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT_S,
            check=False,
        )
    if run.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium: exit {run.returncode}, no screenshot (stderr: {run.stderr[-2000:]})")
    return run.stdout


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "sample-report"
    out.mkdir(parents=True, exist_ok=True)
    page = out / "daily-report.html"
    page.write_text(render_report(sample_report()), encoding="utf-8")
    png = out / "daily-report.png"
    capture(page, png)
    print(f"{page} ({page.stat().st_size} bytes)\n{png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
