"""The local host's app directory (its "/opt/freshtrack-pro"): a git repo with release tags and the scripts.

Layout: ``<root>/upstream/freshtrack-pro.git`` is a bare "origin" (so ``git fetch --tags`` / ``git pull``
work offline); ``<root>/opt/freshtrack-pro`` is the working clone checked out at the newest release.

Each release commit carries ``VERSION``, ``CHANGELOG.md``, ``release.json`` (``{"version": tag, "healthy":
bool}``: whether its backend answers the health check, read by the docker shim when it builds the images) and,
when it changes the schema, its migration ``migrations/<NNNN>_<name>.sql`` (NNNN one above the newest so
far). ``scripts/deploy-automated.sh`` applies the migrations not yet in the ``schema_migrations`` table.
The database the local host seeds is the one v1.2.0 left: ``record_initial_migrations`` applies and records
the initial releases' migrations.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from opsctl.local.seed import SCHEMA

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
    # a new server's first deployment creates the schema from it (a disaster recovery's replacement); on the seeded
    # database it changes nothing (IF NOT EXISTS): the seed made the same tables
    "v1.1.0": (
        "migrations/0001_initial.sql",
        "-- initial schema (organizations, users, sites, sensors, ...)\n"
        + SCHEMA.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ").lstrip(),
    ),
    "v1.2.0": (
        "migrations/0002_alert_escalation.sql",
        "-- v1.2.0: alert escalation\nALTER TABLE alerts ADD COLUMN IF NOT EXISTS escalated_at timestamptz;\n",
    ),
}
#: the untracked file (ignored by .gitignore) through which the local host tells the app's scripts where the
#: docker shim and the health endpoint are (``DOCKER=...``, ``HEALTH_URL=...``): sudo and the local transport
#: do not pass the environment that carries them on SSH and SSM
LOCAL_PLANE_ENV = ".local-plane.env"
#: the table the deploy script records applied migrations in (as the app's migration tool does)
MIGRATIONS_TABLE = "schema_migrations"
_MIGRATION_NUMBER = re.compile(r"^([0-9]{4})_.*\.sql$")


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


def describe(app_dir: Path) -> str:
    """``git describe --tags`` in ``app_dir``."""
    return _git(app_dir, "describe", "--tags")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _configure_identity(repo: Path) -> None:
    _git(repo, "config", "user.name", GIT_USER[0])
    _git(repo, "config", "user.email", GIT_USER[1])


def next_migration_path(repo: Path, name: str) -> str:
    """``migrations/<NNNN>_<name>.sql`` with NNNN one above the highest number in ``repo``'s migrations/."""
    numbers = [int(m.group(1)) for f in (repo / "migrations").glob("*.sql") if (m := _MIGRATION_NUMBER.match(f.name))]
    return f"migrations/{max(numbers, default=0) + 1:04d}_{name}.sql"


def _commit_release(
    repo: Path,
    tag: str,
    day: int,
    *,
    migration_sql: str | None = None,
    healthy: bool = True,
    withdraw: Sequence[str] = (),
) -> str:
    """Commit a release (VERSION, CHANGELOG, release.json, the migration if any), tag it; the commit id.
    ``withdraw``: earlier releases whose migrations this release removes (the fix for a broken one)."""
    version = tag.lstrip("v")
    for withdrawn in withdraw:
        for withdrawn_file in (repo / "migrations").glob(f"*_{withdrawn}.sql"):
            withdrawn_file.unlink()
    _write(repo / "VERSION", f"{version}\n")
    _write(repo / "release.json", json.dumps({"version": tag, "healthy": healthy}, indent=1) + "\n")
    if tag in MIGRATIONS and migration_sql is None:
        path, text = MIGRATIONS[tag]
        _write(repo / path, text)
    elif migration_sql is not None:
        _write(
            repo / next_migration_path(repo, tag),
            migration_sql if migration_sql.endswith("\n") else migration_sql + "\n",
        )
    changelog = repo / "CHANGELOG.md"
    previous = changelog.read_text(encoding="utf-8") if changelog.exists() else "# Changelog\n"
    _write(changelog, previous + f"\n## {tag}\n- FreshTrack Pro {version}\n")
    date = f"2026-01-{day:02d}T12:00:00+00:00"
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"Release {tag}", date=date)
    _git(repo, "tag", "-a", tag, "-m", f"FreshTrack Pro {tag}", date=date)
    return _git(repo, "rev-parse", "HEAD")


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
    _write(deploy_state / "checkpoint", f"version={RELEASES[-1]}\nat=2026-01-11T12:00:00Z\nstep=complete\n", 0o600)

    upstream.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "clone", "-q", "--bare", str(app_dir), str(upstream))
    _git(app_dir, "remote", "add", "origin", str(upstream))
    _git(app_dir, "fetch", "-q", "origin")
    _git(app_dir, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return app_dir


def publish_release(
    root: Path,
    tag: str,
    *,
    migration_sql: str | None = None,
    healthy: bool = True,
    day: int = 20,
    withdraw: Sequence[str] = (),
) -> str:
    """Publish a new release to the bare origin: a commit on main + annotated tag ``tag`` (the app dir still
    needs ``git fetch``); the commit id. ``migration_sql``: the release's migration (a new
    ``migrations/<NNNN>_<tag>.sql``), none when None; ``healthy``: what its ``release.json`` says;
    ``withdraw``: tags of earlier releases whose migration files this one removes."""
    with _origin_clone(root) as work:
        commit = _commit_release(work, tag, day, migration_sql=migration_sql, healthy=healthy, withdraw=withdraw)
        _git(work, "push", "-q", "origin", "refs/heads/main", f"refs/tags/{tag}")
    return commit


def publish_branch(
    root: Path,
    branch: str,
    *,
    base: str = "main",
    message: str | None = None,
    migration_sql: str | None = None,
    healthy: bool = True,
) -> str:
    """Push one new commit to origin's ``branch`` (created from origin's ``base`` — a branch, tag or commit —
    when it does not exist yet); the commit id. The commit changes CHANGELOG.md and release.json (its
    ``version`` stays the release it builds on) and adds ``migration_sql`` as a new migration when given."""
    with _origin_clone(root) as work:
        exists = _git(work, "ls-remote", "--heads", "origin", f"refs/heads/{branch}")
        start = f"origin/{branch}" if exists else base
        _git(work, "switch", "-q", "-C", branch, "--end-of-options", start)
        marker = work / "release.json"
        previous = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
        _write(marker, json.dumps({"version": previous.get("version", ""), "healthy": healthy}, indent=1) + "\n")
        if migration_sql is not None:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", branch)
            _write(work / next_migration_path(work, name), migration_sql.rstrip("\n") + "\n")
        changelog = work / "CHANGELOG.md"
        _write(changelog, changelog.read_text(encoding="utf-8") + f"\n- {message or 'work on ' + branch}\n")
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", message or f"Work on {branch}", date="2026-01-25T12:00:00+00:00")
        _git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return _git(work, "rev-parse", "HEAD")


@contextlib.contextmanager
def _origin_clone(root: Path) -> Iterator[Path]:
    """A throwaway clone of the bare origin with the release bot's identity."""
    upstream = root / "upstream" / "freshtrack-pro.git"
    with tempfile.TemporaryDirectory(prefix="ft-release-") as tmp:
        work = Path(tmp) / "work"
        _git(Path(tmp), "clone", "-q", str(upstream), str(work))
        _configure_identity(work)
        yield work


def record_initial_migrations(app_dir: Path, conninfo: Mapping[str, Any], *, db: str, role: str) -> list[str]:
    """Bring the freshly seeded database to where the checked-out release's deployment left it: apply each
    ``migrations/*.sql`` of ``app_dir`` as ``role`` and record it in ``schema_migrations`` (as the deploy
    script does, with fixed times); the names recorded."""
    names: list[str] = []
    with psycopg.connect(**{**conninfo, "dbname": db}) as conn, conn.transaction():
        conn.execute(pgsql.SQL("SET LOCAL ROLE {}").format(pgsql.Identifier(role)))
        conn.execute(
            pgsql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(pgsql.Identifier(MIGRATIONS_TABLE))
        )
        for day, path in enumerate(sorted((app_dir / "migrations").glob("*.sql")), start=10):
            conn.execute(path.read_text(encoding="utf-8").encode())  # bytes: the file's SQL, run as it is
            conn.execute(
                pgsql.SQL("INSERT INTO {} (name, applied_at) VALUES (%s, %s)").format(
                    pgsql.Identifier(MIGRATIONS_TABLE)
                ),
                (path.stem, f"2026-01-{day:02d}T12:00:00+00:00"),
            )
            names.append(path.stem)
    return names
