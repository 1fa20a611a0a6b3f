"""The local host's app directory (its "/opt/freshtrack-pro"): a git repo with release tags and the scripts.

Layout: ``<root>/upstream/freshtrack-pro.git`` is a bare "origin" (so ``git fetch --tags`` / ``git pull``
work offline); ``<root>/opt/freshtrack-pro`` is the working clone checked out at the newest release.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

RELEASES = ("v1.1.0", "v1.2.0")
GIT_USER = ("FreshTrack Release Bot", "release-bot@freshtrack.invalid")

#: the app directory's files, as files (the scripts are shellcheck'd by ``make lint``); ``gitignore`` and
#: ``env.production`` become ``.gitignore`` and ``.env.production`` (named so here to stay visible and inert)
FILES = Path(__file__).resolve().with_name("app_repo_files")
#: tracked in the app repo: path in the app dir -> (template, mode)
TRACKED: dict[str, tuple[str, int]] = {
    ".gitignore": ("gitignore", 0o644),
    "docker-compose.yml": ("docker-compose.yml", 0o644),
    "compose.production.yaml": ("compose.production.yaml", 0o644),
    "Caddyfile": ("Caddyfile", 0o644),
    "scripts/deploy-automated.sh": ("scripts/deploy-automated.sh", 0o755),
    "scripts/verify-deployment.sh": ("scripts/verify-deployment.sh", 0o755),
    "scripts/post-deploy.sh": ("scripts/post-deploy.sh", 0o755),
}


def template(name: str) -> str:
    """The text of one file under ``app_repo_files``."""
    return (FILES / name).read_text(encoding="utf-8")


DEPLOY_SH = template("scripts/deploy-automated.sh")
VERIFY_SH = template("scripts/verify-deployment.sh")
POST_DEPLOY_SH = template("scripts/post-deploy.sh")

MIGRATIONS = {
    "v1.1.0": ("migrations/0001_initial.sql", "-- initial schema (organizations, users, sites, sensors, ...)\n"),
    "v1.2.0": (
        "migrations/0002_alert_escalation.sql",
        "-- v1.2.0: alert escalation\nALTER TABLE alerts ADD COLUMN IF NOT EXISTS escalated_at timestamptz;\n",
    ),
}


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    proc = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _configure_identity(repo: Path) -> None:
    _git(repo, "config", "user.name", GIT_USER[0])
    _git(repo, "config", "user.email", GIT_USER[1])


def _commit_release(repo: Path, tag: str, day: int) -> None:
    version = tag.lstrip("v")
    _write(repo / "VERSION", f"{version}\n")
    path, text = MIGRATIONS.get(tag, (f"migrations/{tag}.sql", f"-- {tag}: no schema change\n"))
    _write(repo / path, text)
    changelog = repo / "CHANGELOG.md"
    previous = changelog.read_text(encoding="utf-8") if changelog.exists() else "# Changelog\n"
    _write(changelog, previous + f"\n## {tag}\n- FreshTrack Pro {version}\n")
    date = f"2026-01-{day:02d}T12:00:00+00:00"
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"Release {tag}", date=date)
    _git(repo, "tag", "-a", tag, "-m", f"FreshTrack Pro {tag}", date=date)


def create_app_repo(root: Path, domain: str = "freshtrack.local") -> Path:
    """Create ``<root>/opt/freshtrack-pro`` (checked out at the newest release) and its bare origin."""
    app_dir = root / "opt" / "freshtrack-pro"
    upstream = root / "upstream" / "freshtrack-pro.git"
    if app_dir.exists():
        shutil.rmtree(app_dir)
    if upstream.exists():
        shutil.rmtree(upstream)
    app_dir.mkdir(parents=True)
    _git(app_dir, "-c", "init.defaultBranch=main", "init", "-q")
    _configure_identity(app_dir)
    for path, (name, mode) in TRACKED.items():
        _write(app_dir / path, template(name), mode)
    for day, tag in enumerate(RELEASES, start=10):
        _commit_release(app_dir, tag, day)

    # Untracked operational files (kept out of git by .gitignore).
    _write(app_dir / ".env.production", template("env.production").replace("{domain}", domain), 0o600)
    secrets_dir = app_dir / "secrets"
    secrets_dir.mkdir(mode=0o700)
    secrets_dir.chmod(0o700)
    _write(secrets_dir / "postgres_password.txt", secrets.token_urlsafe(32) + "\n", 0o600)
    _write(secrets_dir / "jwt_secret.txt", secrets.token_urlsafe(48) + "\n", 0o600)
    deploy_state = app_dir / ".deploy-state"
    deploy_state.mkdir(mode=0o700)
    for step in ("preflight", "prerequisites"):
        _write(deploy_state / f"{step}.done", "2026-01-11T12:00:00Z\n", 0o600)
    _write(deploy_state / "deployed_version", f"{RELEASES[-1]}\n", 0o600)

    upstream.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "clone", "-q", "--bare", str(app_dir), str(upstream))
    _git(app_dir, "remote", "add", "origin", str(upstream))
    _git(app_dir, "fetch", "-q", "origin")
    _git(app_dir, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return app_dir


def publish_release(root: Path, tag: str, *, day: int = 20) -> None:
    """Publish a new release commit + tag to the bare origin (the app dir still needs ``git fetch``)."""
    upstream = root / "upstream" / "freshtrack-pro.git"
    with tempfile.TemporaryDirectory(prefix="ft-release-") as tmp:
        work = Path(tmp) / "work"
        _git(Path(tmp), "clone", "-q", str(upstream), str(work))
        _configure_identity(work)
        _commit_release(work, tag, day)
        _git(work, "push", "-q", "origin", "main", tag)
