#!/usr/bin/env bash
# The manual's quarterly "Secret Rotation" (docs/maintenance.md), without its leaks: the database password and the
# JWT secret, generated here (openssl rand -base64 32, as the manual does), never printed, never on a command line:
#   rotate  keep secrets/postgres_password.txt, secrets/jwt_secret.txt and .env.production in KEEP_DIR (mode 700,
#           the way back), write the new values next to them, ALTER ROLE with the new password fed on psql's
#           stdin, `docker compose down`, rename the new files into place, `docker compose up -d`
#   revert  the kept files back (renamed into place), ALTER ROLE with the old password, down, up -d
#   commit  the rotation was verified: the kept old values are deleted
# .env.production lines POSTGRES_PASSWORD=, DB_PASSWORD= and JWT_SECRET= (when the app keeps the values there too,
# "Update .env.production with new values") get the new values; *_FILE lines point at the secrets/ files and stay.
# Every file is written to a temporary file with the old one's mode and renamed over it (atomic).
# The ALTER ROLE session turns statement logging off (log_statement, log_min_duration_statement,
# log_min_error_statement, pg_stat_statements.track_utility): PostgreSQL would otherwise write the statement, with
# the password, to its log when log_statement is ddl or all, or when the statement fails.
# Stdout, parsed by the control plane (maintenance/rotation.py): "ran=<command>", "rotated=<name>",
# "env_updated=<key>", "reverted=yes", "committed=yes", then "after.<service>=<state>" / "status.<service>=..."
# Exit 64: a refused parameter; 66: a file to rotate is missing; 67: an unfinished rotation is in KEEP_DIR (revert
# or commit it first); 68: nothing to revert; 65: a password file holds no generated value.
set -euo pipefail
umask 077
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_ROLE:?}" "${ROTATION:?}" "${SERVICES:?}"
# @include lib/names.sh
# @include lib/env_file.sh
# @include lib/service.sh
read -r -a services <<<"$SERVICES"
service_names_ok "$PG_SERVICE" "${services[@]}" || exit 64
if [[ ! "$DB_ROLE" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
  echo "refusing DB_ROLE '$DB_ROLE'" >&2
  exit 64
fi
cd "$APP_DIR"
KEEP_DIR="secrets/.rotation-previous"
FILES=(secrets/postgres_password.txt secrets/jwt_secret.txt .env.production)
ENV_KEYS=(POSTGRES_PASSWORD DB_PASSWORD JWT_SECRET)

ran() {
  printf 'ran=%s\n' "$*"
}

# new_secret FILE: 32 random bytes, base64 (the manual's openssl rand -base64 32), into FILE (mode 600)
new_secret() {
  openssl rand -base64 32 >"$1"
  chmod 600 "$1"
}

# set_password FILE: ALTER ROLE DB_ROLE with the password in FILE, on psql's stdin (printf is a builtin: the value
# is in no process's argv); psql's VERBOSITY terse leaves the statement's text out of an error message
set_password() {
  local password
  password="$(<"$1")"
  if [[ ! "$password" =~ ^[A-Za-z0-9+/=._~-]{16,256}$ ]]; then
    echo "refusing the password in $1: not a generated value" >&2
    return 65
  fi
  ran "docker compose exec -T $PG_SERVICE psql -U postgres (ALTER ROLE $DB_ROLE PASSWORD on stdin)"
  {
    printf '%s\n' "SET log_statement = 'none';" "SET log_min_duration_statement = -1;" \
      "SET log_min_error_statement = 'panic';" "SET pg_stat_statements.track_utility = off;"
    printf "ALTER ROLE %s PASSWORD '%s';\n" "$DB_ROLE" "$password"
  } | "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse \
    -U postgres -d postgres >&2
}

# replace FILE NEW: NEW renamed over FILE (same filesystem: atomic)
replace() {
  chmod --reference="$1" "$2"
  mv -f "$2" "$1"
}

restart() {
  ran "docker compose down"
  "$DOCKER_BIN" compose down >&2
  ran "docker compose up -d"
  "$DOCKER_BIN" compose up -d >&2
}

rotate() {
  local file key
  if [[ -e "$KEEP_DIR" ]]; then
    echo "$APP_DIR/$KEEP_DIR exists: an earlier rotation was not finished (revert or commit it first)" >&2
    exit 67
  fi
  for file in "${FILES[@]}"; do
    [[ -f "$file" ]] || {
      echo "no $APP_DIR/$file to rotate" >&2
      exit 66
    }
  done
  rm -rf "$KEEP_DIR.tmp"
  mkdir -m 700 "$KEEP_DIR.tmp"
  for file in "${FILES[@]}"; do
    cp -p "$file" "$KEEP_DIR.tmp/${file##*/}"
  done
  mv "$KEEP_DIR.tmp" "$KEEP_DIR"
  new_secret secrets/postgres_password.txt.new
  new_secret secrets/jwt_secret.txt.new
  cp -p .env.production .env.production.new
  for key in "${ENV_KEYS[@]}"; do
    if [[ -n "$(env_get .env.production "$key")" ]]; then
      case "$key" in
        JWT_SECRET) env_set .env.production.new "$key" "$(<secrets/jwt_secret.txt.new)" ;;
        *) env_set .env.production.new "$key" "$(<secrets/postgres_password.txt.new)" ;;
      esac
      printf 'env_updated=%s\n' "$key"
    fi
  done
  set_password secrets/postgres_password.txt.new
  ran "docker compose down"
  "$DOCKER_BIN" compose down >&2
  replace secrets/postgres_password.txt secrets/postgres_password.txt.new
  replace secrets/jwt_secret.txt secrets/jwt_secret.txt.new
  replace .env.production .env.production.new
  printf 'rotated=%s\n' postgres_password jwt_secret
  ran "docker compose up -d"
  "$DOCKER_BIN" compose up -d >&2
}

revert() {
  local file
  if [[ ! -d "$KEEP_DIR" ]]; then
    echo "$APP_DIR/$KEEP_DIR does not exist: nothing to revert" >&2
    exit 68
  fi
  rm -f secrets/postgres_password.txt.new secrets/jwt_secret.txt.new .env.production.new
  for file in "${FILES[@]}"; do
    cp -p "$KEEP_DIR/${file##*/}" "$file.old"
    replace "$file" "$file.old"
  done
  set_password secrets/postgres_password.txt
  restart
  rm -rf "$KEEP_DIR"
  printf 'reverted=yes\n'
}

case "$ROTATION" in
  rotate) rotate ;;
  revert) revert ;;
  commit)
    rm -rf "$KEEP_DIR"
    printf 'committed=yes\n'
    ;;
  *)
    echo "refusing ROTATION '$ROTATION'" >&2
    exit 64
    ;;
esac
service_report "${services[@]}"
