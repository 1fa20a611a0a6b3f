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

DEPLOY_SH = r"""#!/usr/bin/env bash
# FreshTrack Pro automated deployment (local stand-in with the real script's interface).
#   deploy-automated.sh          deploy the checked-out version (checkpoints skip finished one-time steps)
#   deploy-automated.sh --reset  clear the deployment checkpoints in .deploy-state/ and exit
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${APP_DIR}/.deploy-state"
DOCKER="${DOCKER:-docker}"
cd "${APP_DIR}"

if [[ "${1:-}" == "--reset" ]]; then
  mkdir -p "${STATE_DIR}"
  find "${STATE_DIR}" -mindepth 1 -delete
  echo "[deploy] deployment checkpoints cleared"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--reset]" >&2
  exit 2
fi

mkdir -p "${STATE_DIR}"
chmod 700 "${STATE_DIR}"

step_done() { [[ -f "${STATE_DIR}/$1.done" ]]; }
mark_done() { date -u +%Y-%m-%dT%H:%M:%SZ > "${STATE_DIR}/$1.done"; }

for step in preflight prerequisites; do
  if step_done "${step}"; then
    echo "[deploy] ${step}: checkpoint exists, skipping"
  else
    echo "[deploy] ${step}: ok"
    mark_done "${step}"
  fi
done

version="$(git describe --tags)"
printf 'version=%s\nstarted_at=%s\nstep=started\n' "${version}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  > "${STATE_DIR}/checkpoint"
echo "[deploy] deploying ${version}"

"${DOCKER}" compose build
"${DOCKER}" compose up -d
"${DOCKER}" compose exec -T backend npm run db:migrate

printf 'version=%s\nfinished_at=%s\nstep=complete\n' "${version}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  > "${STATE_DIR}/checkpoint"
printf '%s\n' "${version}" > "${STATE_DIR}/deployed_version"
echo "[deploy] ${version} deployed"
"""

VERIFY_SH = r"""#!/usr/bin/env bash
# Verify a FreshTrack Pro deployment: every compose service running and the health endpoint answering 200.
#   verify-deployment.sh DOMAIN     (HEALTH_URL overrides https://DOMAIN/api/health)
set -euo pipefail

if [[ $# -lt 1 || -z "$1" ]]; then
  echo "usage: $0 DOMAIN" >&2
  exit 2
fi
domain="$1"
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
url="${HEALTH_URL:-https://${domain}/api/health}"
cd "${APP_DIR}"

if ! ps_json="$("${DOCKER}" compose ps --format json)"; then
  echo "FAIL: '${DOCKER} compose ps' failed" >&2
  exit 1
fi

count=0
failed=0
while IFS= read -r line; do
  [[ -z "${line}" ]] && continue
  count=$((count + 1))
  if [[ "${line}" != *'"State":"running"'* ]]; then
    service="$(sed -E 's/.*"Service":"([^"]*)".*/\1/' <<< "${line}")"
    echo "FAIL: service ${service} is not running" >&2
    failed=1
  fi
done <<< "${ps_json}"

if [[ "${count}" -eq 0 ]]; then
  echo "FAIL: no compose services found" >&2
  exit 1
fi
if [[ "${failed}" -ne 0 ]]; then
  exit 1
fi
echo "OK: all ${count} services running"

if command -v curl > /dev/null 2>&1; then
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${url}" || true)"
else
  code="$(python3 - "${url}" << 'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except Exception:
    print("000")
PY
)"
fi

if [[ "${code}" != "200" ]]; then
  echo "FAIL: health check ${url} answered ${code:-nothing} (expected 200)" >&2
  exit 1
fi
echo "OK: ${url} answered 200"
echo "Deployment verified"
"""

POST_DEPLOY_SH = r"""#!/usr/bin/env bash
# Post-deployment tasks: print what is deployed and the service status.
#   post-deploy.sh [DOMAIN]
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
cd "${APP_DIR}"

echo "[post-deploy] version: $(git describe --tags)"
if [[ -n "${1:-}" ]]; then
  echo "[post-deploy] domain: $1"
fi
"${DOCKER}" compose ps
echo "[post-deploy] complete"
"""

DOCKER_COMPOSE_YML = """name: freshtrack-pro
services:
  backend:
    image: ghcr.io/freshtrack/freshtrack-pro:${APP_VERSION:-latest}
    build: ./backend
    env_file: .env.production
    depends_on: [postgres, redis]
    secrets: [postgres_password, jwt_secret]
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:3000/api/health"]
  worker:
    image: ghcr.io/freshtrack/freshtrack-pro:${APP_VERSION:-latest}
    command: ["node", "dist/worker.js"]
    env_file: .env.production
    depends_on: [postgres, redis]
  postgres:
    image: postgres:15-alpine
    environment:
      POSTGRES_DB: frostguard
      POSTGRES_USER: frostguard
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    volumes: [postgres_data:/var/lib/postgresql/data]
    secrets: [postgres_password]
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "frostguard"]
  redis:
    image: redis:7-alpine
    volumes: [redis_data:/data]
  caddy:
    image: caddy:2-alpine
    ports: ["80:80", "443:443"]
    volumes: [./Caddyfile:/etc/caddy/Caddyfile, caddy_data:/data]
volumes:
  postgres_data: {}
  redis_data: {}
  caddy_data: {}
secrets:
  postgres_password:
    file: ./secrets/postgres_password.txt
  jwt_secret:
    file: ./secrets/jwt_secret.txt
"""

COMPOSE_PRODUCTION_YAML = """services:
  backend:
    deploy:
      resources:
        limits:
          cpus: "2"
          memory: 2048M
  worker:
    deploy:
      resources:
        limits:
          cpus: "1"
          memory: 1024M
  postgres:
    deploy:
      resources:
        limits:
          cpus: "2"
          memory: 2048M
  redis:
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 512M
  caddy:
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 512M
"""

ENV_PRODUCTION = """# FreshTrack Pro production settings (local stand-in: placeholders, no real secrets)
NODE_ENV=production
DOMAIN={domain}
DB_HOST=postgres
DB_PORT=5432
DB_NAME=frostguard
DB_USER=frostguard
DB_POOL_SIZE=10
REDIS_URL=redis://redis:6379
POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password
JWT_SECRET_FILE=/run/secrets/jwt_secret
SMTP_HOST=smtp.example.invalid
SMTP_PASSWORD=placeholder-not-a-secret
"""

GITIGNORE = """.env.production
secrets/
.deploy-state/
node_modules/
"""

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
    _write(app_dir / ".gitignore", GITIGNORE)
    _write(app_dir / "docker-compose.yml", DOCKER_COMPOSE_YML)
    _write(app_dir / "compose.production.yaml", COMPOSE_PRODUCTION_YAML)
    _write(app_dir / "Caddyfile", "{$DOMAIN} {\n  reverse_proxy backend:3000\n}\n")
    _write(app_dir / "scripts" / "deploy-automated.sh", DEPLOY_SH, 0o755)
    _write(app_dir / "scripts" / "verify-deployment.sh", VERIFY_SH, 0o755)
    _write(app_dir / "scripts" / "post-deploy.sh", POST_DEPLOY_SH, 0o755)
    for day, tag in enumerate(RELEASES, start=10):
        _commit_release(app_dir, tag, day)

    # Untracked operational files (kept out of git by .gitignore).
    _write(app_dir / ".env.production", ENV_PRODUCTION.format(domain=domain), 0o600)
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
