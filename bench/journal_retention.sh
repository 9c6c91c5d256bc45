#!/usr/bin/env bash
# Journal retention on PostgreSQL, measured (issue 14): what Varco does, batched deletes (the
# 2,048 oldest events per statement, each its own transaction, src/store/postgres/journal.rs),
# against day partitions dropped whole. On a throwaway cluster with fsync on (tests/pg.sh),
# each variant: JOURNAL_DAYS days of JOURNAL_PER_DAY events of JOURNAL_BYTES bytes (the journal
# table's layout), then the older half removed while pgbench appends new events (4 clients,
# one event per transaction, as nodes' journal writers do). Printed: how long the removal took,
# its longest statement, the WAL it wrote, the table's size after it, and the appends'
# latency (p50, p99, max) before and during the removal.
#
# Usage: bench/journal_retention.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${VARCO_TEST_PG:-} ]]; then
  VARCO_PG_DURABLE=1 exec tests/pg.sh run "$0" "$@"
fi
days=${JOURNAL_DAYS:-20}
per_day=${JOURNAL_PER_DAY:-100000}
bytes=${JOURNAL_BYTES:-400}
bin=$VARCO_TEST_PG_BIN
work=$(mktemp -d /tmp/varco-retention.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=journal_$(date +%s)
psql -q "$VARCO_TEST_PG" -c "CREATE DATABASE $db"
url=${VARCO_TEST_PG/dbname=postgres/dbname=$db}
day=86400000
t0=$(( ($(date +%s) - days * 86400) * 1000 ))
t0=$(( t0 - t0 % day ))
bound=$(( t0 + days / 2 * day ))
total=$(( days * per_day ))
sql() { psql -Atq "$url" -c "$1"; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, $days days x $per_day events of $bytes bytes; removing the $((days / 2)) oldest days while 4 pgbench clients append"
cat > "$work/append.sql" <<EOF
\set n random(1, 1000000000)
INSERT INTO journal (ms, seq, body) VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint, nextval('journal_seq'), decode(repeat(md5(:n::text), $((bytes / 16))), 'hex'));
EOF

for variant in deletes partitions; do
  sql "DROP TABLE IF EXISTS journal; DROP SEQUENCE IF EXISTS journal_seq; CREATE SEQUENCE journal_seq"
  if [[ $variant == deletes ]]; then
    sql "CREATE TABLE journal (ms bigint NOT NULL, seq bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (ms, seq))"
  else
    sql "CREATE TABLE journal (ms bigint NOT NULL, seq bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (ms, seq)) PARTITION BY RANGE (ms)"
    for d in $(seq 0 $((days + 1))); do
      sql "CREATE TABLE journal_d$d PARTITION OF journal FOR VALUES FROM ($((t0 + d * day))) TO ($((t0 + (d + 1) * day)))"
    done
  fi
  sql "INSERT INTO journal SELECT $t0 + g * ($days::bigint * $day / $total), nextval('journal_seq'), decode(repeat(md5(g::text), $((bytes / 16))), 'hex') FROM generate_series(0, $total - 1) g"
  sql "VACUUM ANALYZE journal" >/dev/null
  sql "CHECKPOINT"
  size_before=$(sql "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relname LIKE 'journal%' AND c.relkind IN ('r', 'p')")
  # The removal script: statements in autocommit, each timed.
  if [[ $variant == deletes ]]; then
    n=$(( (total / 2) / 2048 + 2 ))
    for _ in $(seq $n); do
      echo "DELETE FROM journal WHERE (ms, seq) IN (SELECT ms, seq FROM journal WHERE ms < $bound ORDER BY ms, seq LIMIT 2048);"
    done > "$work/remove.sql"
  else
    for d in $(seq 0 $((days / 2 - 1))); do echo "DROP TABLE journal_d$d;"; done > "$work/remove.sql"
  fi
  rm -f "$work"/pgb.*
  (cd "$work" && "$bin/pgbench" -n -f append.sql -c 4 -j 2 -T 40 -l --log-prefix=pgb "$url" > pgbench.out 2>&1) &
  pgb=$!
  sleep 8
  lsn0=$(sql "SELECT pg_current_wal_lsn()")
  start=$(date +%s.%N)
  psql -Atq "$url" -c '\timing on' -f "$work/remove.sql" > "$work/remove.out"
  end=$(date +%s.%N)
  lsn1=$(sql "SELECT pg_current_wal_lsn()")
  wait $pgb
  left=$(sql "SELECT count(*) FROM journal WHERE ms < $bound")
  size_after=$(sql "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relname LIKE 'journal%' AND c.relkind IN ('r', 'p')")
  wal=$(sql "SELECT pg_size_pretty(pg_wal_lsn_diff('$lsn1', '$lsn0'))")
  python3 - "$variant" "$start" "$end" "$work" "$size_before" "$size_after" "$wal" "$left" <<'EOF'
import glob, re, sys
variant, start, end, work, before, after, wal, left = sys.argv[1:]
start, end = float(start), float(end)
times = [float(m) for m in re.findall(r"Time: ([0-9.]+) ms", open(f"{work}/remove.out").read())]
quiet, during = [], []
for path in glob.glob(f"{work}/pgb.*"):
    for line in open(path):
        f = line.split()
        # client tx latency_us script epoch_s epoch_us (the end of the transaction)
        lat, t = int(f[2]), int(f[4]) + int(f[5]) / 1e6
        if t < start:
            quiet.append(lat)
        elif t <= end:
            during.append(lat)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] / 1000 if xs else float("nan")
def line(xs):
    return f"{len(xs):,} appends, p50 {pct(xs, .5):.2f} ms, p99 {pct(xs, .99):.2f} ms, max {max(xs) / 1000 if xs else float('nan'):.2f} ms"
print(f"{variant}: removed in {end - start:.2f} s, {len(times)} statements, longest {max(times):.1f} ms, "
      f"WAL {wal}, journal {before} -> {after}, old events left {left}")
print(f"  appends before: {line(quiet)}")
print(f"  appends during: {line(during)}")
EOF
done
