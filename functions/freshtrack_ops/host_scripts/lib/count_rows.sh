#!/usr/bin/env bash
# Shared by the scripts that count rows (inlined by host_scripts.load at "# @include"): the manifest's counts
# and the counts a restore is checked against must come from the same query.
#
# count_rows_sql: print the SQL that returns exact per-table row counts as one JSON object
# ({"schema.table": n, ...}, every ordinary and partitioned table outside the system schemas).

count_rows_sql() {
  cat <<'SQL'
SELECT coalesce(json_object_agg(format('%s.%s', n.nspname, c.relname),
         (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname),
                                              false, true, '')))[1]::text::bigint ORDER BY n.nspname, c.relname), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%';
SQL
}
