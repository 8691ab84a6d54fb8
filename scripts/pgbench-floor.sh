#!/usr/bin/env bash
# The overhead ratio of pgbench (a C client that does nothing else) on the
# statements rowfence's probes are made of: how far below rowfence's own ratio
# any client can get on this machine. See README, "Speed".
#
#   scripts/pgbench-floor.sh [TRANSACTIONS]      (default 3000; needs root or the postgres user)
#
# Starts a throwaway local cluster with pg_stat_statements, loads a generated
# bench schema with a few rows, runs one probe-like transaction (set the
# tenant, savepoint, a read, a keyed update and a keyed delete each rolled back
# to the savepoint) with pgbench in simple and in pipelined extended mode, and
# prints wall time / (pg_stat_statements plan + exec time) for each.
set -euo pipefail

N="${1:-3000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
DIR="$(mktemp -d /tmp/rowfence-pgbench.XXXXXX)"
PORT=5499
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg "$BIN/pg_ctl" -D "$DIR/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$DIR"

as_pg "$BIN/initdb" -D "$DIR/data" -A trust >/dev/null
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start -o "-k $DIR -p $PORT -c listen_addresses= -c fsync=off \
  -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on" >/dev/null
psql() { as_pg "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -qtA -v ON_ERROR_STOP=1 "$@"; }

cargo run -q --release --manifest-path "$here/Cargo.toml" -- bench --tables 10 --cases 1 --provider local \
  --keep "$DIR/suite" >/dev/null
psql -c "CREATE DATABASE b"
psql -d b -f "$DIR/suite/tables-10/schema.sql" >/dev/null
psql -d b -c "CREATE EXTENSION pg_stat_statements" -c "
  INSERT INTO organisations VALUES ('00000000-0000-4000-8000-000000000001', 'a'), ('00000000-0000-4000-8000-000000000002', 'b');
  INSERT INTO t001 (org_id, name) SELECT o.id, 'r' || g FROM organisations o, generate_series(1, 3) g;"

cat >"$DIR/probe.sql" <<'SQL'
BEGIN;
SELECT set_config('app.current_org_id', '00000000-0000-4000-8000-000000000001', true);
SAVEPOINT p;
SELECT tableoid::oid::text || ':' || ctid::text AS row_id FROM public.t001;
ROLLBACK TO SAVEPOINT p;
UPDATE public.t001 SET "name" = 'v1'::text WHERE "id" = '4'::bigint;
ROLLBACK TO SAVEPOINT p;
DELETE FROM public.t001 WHERE "id" = '4'::bigint;
ROLLBACK;
SQL
{ echo '\startpipeline'; cat "$DIR/probe.sql"; echo '\endpipeline'; } >"$DIR/pipelined.sql"
# The whole transaction as one simple-query message (pgbench joins `\;`-separated commands).
sed 's/;$/ \\;/' "$DIR/probe.sql" | tr '\n' ' ' | sed 's/ \\; $/;/' >"$DIR/batched.sql"

echo "| pgbench mode | transactions | wall | server plan+exec | overhead ratio |"
echo "|---|---:|---:|---:|---:|"
for run in "simple probe.sql simple" "simple batched.sql simple,one-message" "extended pipelined.sql extended,pipelined"; do
    set -- $run
    psql -d b -c "SELECT pg_stat_statements_reset()" >/dev/null
    latency=$(as_pg "$BIN/pgbench" -h "$DIR" -p "$PORT" -U bench_app -n -M "$1" -t "$N" -f "$DIR/$2" b 2>&1 |
        awk '/latency average/ { print $4 }')
    server=$(psql -d b -c "SELECT sum(total_plan_time + total_exec_time) FROM pg_stat_statements
        WHERE query NOT LIKE '%pg_stat_statements%' AND dbid = (SELECT oid FROM pg_database WHERE datname = 'b')")
    awk -v m="$3" -v n="$N" -v l="$latency" -v s="$server" 'BEGIN {
        w = l * n; printf "| %s | %d | %.2f s | %.2f s | %.2f |\n", m, n, w / 1000, s / 1000, w / s }'
done
