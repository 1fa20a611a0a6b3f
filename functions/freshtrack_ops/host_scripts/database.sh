#!/usr/bin/env bash
# Create or drop a database. ACTION=create-scratch|drop-scratch work on TARGET_DB, which must differ from
# the live DB_NAME; ACTION=recreate-live drops and recreates DB_NAME itself and demands CONFIRM_DB=DB_NAME.
# Names reach SQL only as psql variables (:"name"), never pasted into the statement.
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}" "${ACTION:?}" "${TARGET_DB:?}"
ident='^[a-z_][a-z0-9_]{0,62}$'
for name in "$DB_NAME" "$DB_ROLE" "$TARGET_DB"; do
  if [[ ! "$name" =~ $ident ]]; then
    echo "refusing identifier '$name'" >&2
    exit 64
  fi
done

cd "$APP_DIR"
admin_sql() {
  "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
    -v db="$TARGET_DB" -v role="$DB_ROLE"
}

case "$ACTION" in
  create-scratch)
    [[ "$TARGET_DB" != "$DB_NAME" ]] || { echo "refusing: $TARGET_DB is the live database" >&2; exit 65; }
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'CREATE DATABASE :"db" OWNER :"role";' | admin_sql
    ;;
  drop-scratch)
    [[ "$TARGET_DB" != "$DB_NAME" ]] || { echo "refusing: $TARGET_DB is the live database" >&2; exit 65; }
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' | admin_sql
    ;;
  recreate-live)
    [[ "$TARGET_DB" == "$DB_NAME" && "${CONFIRM_DB:-}" == "$DB_NAME" ]] || {
      echo "refusing: recreate-live needs TARGET_DB and CONFIRM_DB equal to $DB_NAME" >&2
      exit 65
    }
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'CREATE DATABASE :"db" OWNER :"role";' | admin_sql
    ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac
echo "done: $ACTION $TARGET_DB"
