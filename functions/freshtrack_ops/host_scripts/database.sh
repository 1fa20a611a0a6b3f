#!/usr/bin/env bash
# Create, drop, recreate or swap databases. Names reach SQL only as psql variables (:"name", :'text'), never
# pasted into a statement, and every name is checked against $ident first.
#
# Test restores and the old restore path:
#   create-scratch / drop-scratch  TARGET_DB, which must differ from the live DB_NAME (drop-scratch: absent is fine).
#                  drop-scratch also refuses (68) a database carrying one of our markers (an aside or an incoming
#                  database is never a scratch one): the drop-asides run drops leftover scratch databases with it,
#                  by a name from the catalog, and checks here what it is about to drop.
#   recreate-live                  drops and recreates DB_NAME itself; demands TARGET_DB=CONFIRM_DB=DB_NAME.
#
# Restore by swap (docs/restore-swap.md): the backup is loaded into an INCOMING database next to the live one, the
# two are swapped by renames while the services are stopped, and the old live database stays, renamed ASIDE, as the
# way back until a later step (or a schedule) drops it. Ownership is written on the databases themselves, as
# COMMENT ON DATABASE (pg_shdescription), so no action ever drops or renames a database we did not mark:
#   'freshtrack-ops:incoming'            an incoming database (a partial or failed load; nothing to keep)
#   'freshtrack-ops:aside:<DB_NAME>'     the previous live database of DB_NAME, kept as the way back
#   create-incoming  creates an empty TARGET_DB (not DB_NAME) OWNER DB_ROLE and marks it incoming. A leftover
#                    incoming database of that name (a retried or restarted load: the names are per execution) is
#                    dropped and created again; any other existing database of that name is refused (66). WHY the
#                    marker and not the name: the undo log drops an incoming database recorded BEFORE it was
#                    created, so a name that was somebody else's must never be dropped on the name alone. (A kill
#                    between CREATE and COMMENT leaves an unmarked database: refused, for an operator; never dropped.)
#   drop-incoming    drops TARGET_DB when it is marked incoming; absent is done; anything else is refused (68).
#   swap-in          CONFIRM_DB=DB_NAME: ends the other sessions on DB_NAME and TARGET_DB, then renames
#                    DB_NAME -> ASIDE_DB and TARGET_DB -> DB_NAME and moves the markers, in ONE transaction.
#                    Refused, nothing changed, when ASIDE_DB exists (66: a second swap would bury the way back),
#                    when DB_NAME or TARGET_DB is missing (67) or TARGET_DB is not marked incoming (68).
#   swap-back        CONFIRM_DB=DB_NAME: the revert, the inverse of swap-in in ONE transaction: the (failed) live
#                    DB_NAME is renamed to TARGET_DB and marked incoming (kept for a look, dropped by drop-incoming
#                    or the undo log: never dropped here, so the revert stays one transaction), and ASIDE_DB, which
#                    must be marked as DB_NAME's aside (68), is renamed back to DB_NAME. A missing DB_NAME is no
#                    obstacle (the aside comes back all the same); TARGET_DB must not exist (66).
#   drop-aside       drops ASIDE_DB; demands TARGET_DB=ASIDE_DB (typed twice), refuses DB_NAME (65) and any
#                    database not marked as DB_NAME's aside (68); absent is done.
#
# WHY one transaction is enough (verified on PostgreSQL 15.18, docs/restore-swap.md): ALTER DATABASE ... RENAME
# may run inside a transaction block (only CREATE/DROP DATABASE may not: "cannot run inside a transaction
# block"), so the two renames commit together or not at all: an error between them (a name taken: 42P04, a
# session that came back: 55006) rolls the first rename back and the host keeps its live database. A rename is a
# catalog update (the files are named by OID): instant, whatever the size. A rename refuses a database with other
# sessions (55006 "is being accessed by other users") and waits up to 5 s for ended ones to go, so the sessions
# are ended first, in the same transaction; a session that connects again in between makes the transaction fail
# whole, and it is tried again (SWAP_ATTEMPTS), then refused (69).
#
# Exit codes: 64 bad identifier or unknown action, 65 a guard of the live database, 66 a name already taken,
# 67 a database missing, 68 a database not marked as ours for this action, 69 sessions kept coming back,
# 70 the swap's transaction failed otherwise (rolled back: nothing renamed).
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}" "${ACTION:?}" "${TARGET_DB:?}"
CONFIRM_DB="${CONFIRM_DB:-}"
ASIDE_DB="${ASIDE_DB:-}"
ident='^[a-z_][a-z0-9_]{0,62}$'
for name in "$DB_NAME" "$DB_ROLE" "$TARGET_DB"; do
  if [[ ! "$name" =~ $ident ]]; then
    echo "refusing identifier '$name'" >&2
    exit 64
  fi
done
if [[ -n "$ASIDE_DB" && ! "$ASIDE_DB" =~ $ident ]]; then
  echo "refusing identifier '$ASIDE_DB'" >&2
  exit 64
fi
INCOMING_MARK='freshtrack-ops:incoming'
ASIDE_MARK="freshtrack-ops:aside:$DB_NAME"
SWAP_ATTEMPTS=5

cd "$APP_DIR"
admin_sql() {
  "$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
    -v db="$TARGET_DB" -v role="$DB_ROLE" -v live="$DB_NAME" -v aside="$ASIDE_DB" \
    -v incoming_mark="$INCOMING_MARK" -v aside_mark="$ASIDE_MARK" "$@"
}

# What database $1 is: "absent", or "present:" followed by its comment (our marker, or anything else).
state_of() {
  printf '%s\n' "SELECT 'present:' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = :'n';" |
    admin_sql -At -v n="$1" | { read -r line || true; echo "${line:-absent}"; }
}

refuse() {
  echo "refusing: $2" >&2
  exit "$1"
}

not_live() {
  [[ "$1" != "$DB_NAME" ]] || refuse 65 "$1 is the live database"
}

confirmed() {
  [[ "$CONFIRM_DB" == "$DB_NAME" ]] || refuse 65 "$ACTION needs CONFIRM_DB equal to $DB_NAME"
  [[ -n "$ASIDE_DB" ]] || refuse 65 "$ACTION needs ASIDE_DB"
  not_live "$TARGET_DB"
  not_live "$ASIDE_DB"
  [[ "$TARGET_DB" != "$ASIDE_DB" ]] || refuse 65 "$ACTION needs TARGET_DB and ASIDE_DB to differ"
}

# Run the renames on stdin as one transaction; psql's verbose errors carry the SQLSTATE whatever the server's
# language. 55006 (a session came back between the terminate and the rename) rolled everything back: try again.
# Extra arguments go to psql.
swap_sql() {
  local sql attempt err
  sql=$(cat)
  err=$(mktemp)
  for ((attempt = 1; attempt <= SWAP_ATTEMPTS; attempt++)); do
    if printf '%s\n' "$sql" | admin_sql -v VERBOSITY=verbose "$@" 2>"$err"; then
      rm -f "$err"
      return 0
    fi
    if ! grep -qE 'ERROR: +55006:' "$err"; then
      cat "$err" >&2
      rm -f "$err"
      exit 70
    fi
    sleep 1
  done
  cat "$err" >&2
  rm -f "$err"
  refuse 69 "sessions kept coming back to the databases being renamed ($SWAP_ATTEMPTS attempts, nothing renamed)"
}

# drop_if_ours VAR NAME MARK CODE MESSAGE: the database NAME (the psql variable VAR holds it) absent: nothing to do;
# carrying MARK: dropped; anything else: refused with CODE (not ours to drop: nothing is dropped by a name alone)
drop_if_ours() {
  local state
  state=$(state_of "$2")
  case "$state" in
    absent) ;;
    "present:$3") printf 'DROP DATABASE :"%s" WITH (FORCE);\n' "$1" | admin_sql ;;
    *) refuse "$4" "$5" ;;
  esac
}

case "$ACTION" in
  create-scratch)
    not_live "$TARGET_DB"
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'CREATE DATABASE :"db" OWNER :"role";' | admin_sql
    ;;
  drop-scratch)
    not_live "$TARGET_DB"
    state=$(state_of "$TARGET_DB")
    [[ "$state" != present:freshtrack-ops:* ]] || refuse 68 "$TARGET_DB is marked ${state#present:}: no scratch database"
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' | admin_sql
    ;;
  recreate-live)
    [[ "$TARGET_DB" == "$DB_NAME" && "$CONFIRM_DB" == "$DB_NAME" ]] ||
      refuse 65 "recreate-live needs TARGET_DB and CONFIRM_DB equal to $DB_NAME"
    printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'CREATE DATABASE :"db" OWNER :"role";' | admin_sql
    ;;
  create-incoming)
    not_live "$TARGET_DB"
    # a leftover of an earlier attempt of this execution (marked) goes; anything else of that name is refused
    drop_if_ours db "$TARGET_DB" "$INCOMING_MARK" 66 "$TARGET_DB exists and is no incoming database of ours"
    # CREATE DATABASE cannot run inside a transaction block: the marker follows at once, in the same session
    printf '%s\n' 'CREATE DATABASE :"db" OWNER :"role";' 'COMMENT ON DATABASE :"db" IS :'"'incoming_mark'"';' |
      admin_sql
    ;;
  drop-incoming)
    not_live "$TARGET_DB"
    drop_if_ours db "$TARGET_DB" "$INCOMING_MARK" 68 "$TARGET_DB is no incoming database of ours"
    ;;
  swap-in)
    confirmed
    # each state read on its own line: a failing psql stops the script here (set -e), never reads as "absent"
    state=$(state_of "$ASIDE_DB")
    [[ "$state" == absent ]] || refuse 66 "$ASIDE_DB exists (a swap already happened?)"
    state=$(state_of "$DB_NAME")
    [[ "$state" != absent ]] || refuse 67 "the live database $DB_NAME does not exist"
    state=$(state_of "$TARGET_DB")
    [[ "$state" != absent ]] || refuse 67 "$TARGET_DB does not exist"
    [[ "$state" == "present:$INCOMING_MARK" ]] || refuse 68 "$TARGET_DB is no incoming database of ours"
    swap_sql <<'SQL'
BEGIN;
SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
  WHERE datname IN (:'live', :'db') AND pid <> pg_backend_pid() \gset
ALTER DATABASE :"live" RENAME TO :"aside";
ALTER DATABASE :"db" RENAME TO :"live";
COMMENT ON DATABASE :"aside" IS :'aside_mark';
COMMENT ON DATABASE :"live" IS NULL;
COMMIT;
SQL
    ;;
  swap-back)
    confirmed
    state=$(state_of "$ASIDE_DB")
    [[ "$state" != absent ]] || refuse 67 "$ASIDE_DB does not exist: there is nothing to swap back"
    [[ "$state" == "present:$ASIDE_MARK" ]] || refuse 68 "$ASIDE_DB is not marked as the aside of $DB_NAME"
    state=$(state_of "$TARGET_DB")
    [[ "$state" == absent ]] || refuse 66 "$TARGET_DB exists"
    state=$(state_of "$DB_NAME")
    live_exists=true
    [[ "$state" != absent ]] || live_exists=false
    swap_sql -v live_exists="$live_exists" <<'SQL'
BEGIN;
SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
  WHERE datname IN (:'live', :'aside') AND pid <> pg_backend_pid() \gset
\if :live_exists
ALTER DATABASE :"live" RENAME TO :"db";
COMMENT ON DATABASE :"db" IS :'incoming_mark';
\endif
ALTER DATABASE :"aside" RENAME TO :"live";
COMMENT ON DATABASE :"live" IS NULL;
COMMIT;
SQL
    ;;
  drop-aside)
    [[ "$ASIDE_DB" == "$TARGET_DB" ]] || refuse 65 "drop-aside needs TARGET_DB and ASIDE_DB equal"
    not_live "$ASIDE_DB"
    drop_if_ours aside "$ASIDE_DB" "$ASIDE_MARK" 68 "$ASIDE_DB is not marked as the aside of $DB_NAME"
    ;;
  *)
    echo "unknown ACTION '$ACTION'" >&2
    exit 64
    ;;
esac
echo "done: $ACTION $TARGET_DB"
