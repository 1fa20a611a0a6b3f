#!/usr/bin/env bash
# The schema of DB_NAME as one hash, and where its migrations stand: taken before and after an update, it
# tells whether the update changed the database (then a rollback must restore it, not just the code).
# Prints key=value lines:
#   schema_sha256=<64 hex>  sha256 of `pg_dump --schema-only --no-owner --no-privileges DB_NAME` without its
#                           comment lines (--), blank lines, the SET / SELECT pg_catalog.set_config(...)
#                           preamble and pg_dump's per-run \restrict / \unrestrict keys: two identical schemas
#                           give the same hash
#   migrations=<n>          rows of MIGRATIONS_TABLE (0 when the table does not exist)
#   last_migration=<name>   the newest applied (by applied_at, then name; empty when none, or when the table
#                           has no "name" column); characters outside printable ASCII become "?"
set -euo pipefail
: "${APP_DIR:?}" "${DOCKER_BIN:?}" "${PG_SERVICE:?}" "${DB_NAME:?}" "${DB_ROLE:?}"
MIGRATIONS_TABLE="${MIGRATIONS_TABLE:-schema_migrations}"
export LC_ALL=C
ident='^[a-z_][a-z0-9_]{0,62}$'
for name in "$DB_NAME" "$DB_ROLE" "$MIGRATIONS_TABLE"; do
  if [[ ! "$name" =~ $ident ]]; then
    echo "refusing identifier '$name'" >&2
    exit 64
  fi
done

cd "$APP_DIR"
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

# the schema (no data, a few hundred KB at most) goes through a file so pg_dump's own status is checked
if ! "$DOCKER_BIN" compose exec -T "$PG_SERVICE" pg_dump -U "$DB_ROLE" --schema-only --no-owner --no-privileges \
  "$DB_NAME" >"$work/schema.sql"; then
  echo "pg_dump --schema-only of $DB_NAME failed" >&2
  exit 1
fi
schema_sha256="$(awk '
  /^\\(un)?restrict / { next }
  /^--/ || /^[[:space:]]*$/ { next }
  preamble && (/^SET / || /^SELECT pg_catalog\.set_config\(/) { next }
  { preamble = 0; print }
' preamble=1 "$work/schema.sql" | sha256sum | cut -c1-64)"

# names reach SQL only as psql variables (:'tbl' a literal, :"tbl" an identifier), never pasted into it
"$DOCKER_BIN" compose exec -T "$PG_SERVICE" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$DB_ROLE" -d "$DB_NAME" \
  -v tbl="$MIGRATIONS_TABLE" >"$work/migrations.txt" <<'SQL'
SELECT to_regclass(format('%I.%I', current_schema(), :'tbl')) IS NOT NULL AS has_table,
       EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = :'tbl' AND column_name = 'name') AS has_name,
       EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = :'tbl' AND column_name = 'applied_at')
         AS has_applied_at
\gset
\if :has_table
  SELECT 'migrations=' || count(*) FROM :"tbl";
  \if :has_name
    \if :has_applied_at
      SELECT 'last_migration=' || coalesce((SELECT regexp_replace(name::text, '[^ -~]', '?', 'g') FROM :"tbl"
                                                   ORDER BY applied_at DESC NULLS LAST, name DESC LIMIT 1), '');
    \else
      SELECT 'last_migration=' || coalesce((SELECT regexp_replace(name::text, '[^ -~]', '?', 'g') FROM :"tbl"
                                                   ORDER BY name DESC LIMIT 1), '');
    \endif
  \else
    SELECT 'last_migration=';
  \endif
\else
  SELECT 'migrations=0';
  SELECT 'last_migration=';
\endif
SQL

migrations="$(sed -n 's/^migrations=\([0-9][0-9]*\)$/\1/p' "$work/migrations.txt" | head -n 1)"
last_migration="$(sed -n 's/^last_migration=//p' "$work/migrations.txt" | head -n 1)"
if [[ -z "$migrations" ]]; then
  echo "could not count the rows of $MIGRATIONS_TABLE" >&2
  exit 1
fi
echo "schema_sha256=$schema_sha256"
echo "migrations=$migrations"
printf 'last_migration=%s\n' "${last_migration//[^ -~]/?}"
