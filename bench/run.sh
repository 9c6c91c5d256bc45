#!/usr/bin/env bash
# make bench: Varco (release binary, demo configuration, a fresh store preloaded with
# BENCH_PRELOAD positions through the API) against a bare hyper server answering the same
# bytes, in one run, on loopback, for verify, activate (V2) and durable receipts (V2, each
# receiptId unique, each closing a different preloaded position), at each connection count.
# Then `varco-bench disturb` (issue 11): verify at 64 connections quiet, then during 200
# connections of `GET /healthz` (the control: what any traffic at that rate costs on the same
# cores), then during a wrong-password flood on the api listener (200 connections, a new user name and a wrong
# password per request: mostly 429), then during 16 connections of listings
# (GET /api/pendenze/v2/pendenze?risultatiPerPagina=25 as `demo`, with the total count), each
# for the same seconds: the hardening holds if neither moves verify's p99.
#
# Usage: bench/run.sh [SECONDS] [CONNECTIONS...]
# Environment (defaults in brackets):
#   BENCH_SECS [10]            measured seconds per run (plus BENCH_WARMUP [1] of warm-up)
#   BENCH_CONNS ["1 64 512"]   connection counts
#   BENCH_PRELOAD [1000000]    positions in the store (a 100k single-request bulk load among them)
#   BENCH_BULK [100000]        positions of the single-request bulk load (timed on the fresh store)
#   BENCH_CHUNK [10000]        positions per request of the chunked preload
#   BENCH_RECEIPTS [100000]    positions reserved per connection count for the receipt runs
#   BENCH_CACHE_MB [256]       store.cache_mb
#   BENCH_OUT [target/bench/summary-<UTC time>.jsonl]  machine-readable summary (one JSON per line)
#   BENCH_NOTICES [1]          also run examples/notice_timing (0 to skip)
#   BENCH_DISTURB [1]          also run `varco-bench disturb` (0 to skip)
#   BENCH_ENGINE [sled]        `postgres`: the store on a fresh database of a throwaway cluster
#                              (tests/pg.sh with fsync on; or of VARCO_TEST_PG when set)
#   BENCH_LOG [info]           VARCO_LOG of the server (production default: one info line per
#                              request, to a file here as to a log collector)
#   BENCH_LOG_FORMAT [text]    --log-format (text or json)
#   BENCH_JOURNAL [1]          0: `[journal] enabled = false` (A/B only; production keeps it on)
#   BENCH_FRONTS [direct]      what the load generator talks to, each measured in turn:
#                              `direct` (node 1's listener), `nginx1` (node 1 behind the reference
#                              nginx file), `nginx2` (two nodes on the same database behind it;
#                              postgres only). Behind nginx, the bare server is behind the same
#                              file too, so both sides of the ratio pay the proxy hop.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${BENCH_ENGINE:-sled}
if [[ $engine == postgres && -z ${VARCO_TEST_PG:-} ]]; then
  VARCO_PG_DURABLE=1 VARCO_PG_OPTS="-c shared_preload_libraries=pg_stat_statements" \
    exec tests/pg.sh run "$0" "$@"
fi
secs=${1:-${BENCH_SECS:-10}}
shift || true
conns_list=${*:-${BENCH_CONNS:-1 64 512}}
warmup=${BENCH_WARMUP:-1}
preload=${BENCH_PRELOAD:-1000000}
bulk=${BENCH_BULK:-100000}
chunk=${BENCH_CHUNK:-10000}
reserve=${BENCH_RECEIPTS:-100000}
cache_mb=${BENCH_CACHE_MB:-256}
mkdir -p target/bench
out=${BENCH_OUT:-target/bench/summary-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
: > "$out"
fronts=${BENCH_FRONTS:-direct}
nconns=$(( $(wc -w <<<"$conns_list") * $(wc -w <<<"$fronts") ))
if (( preload < bulk + reserve * nconns + 1000 )); then
  echo "BENCH_PRELOAD=$preload is too small for BENCH_BULK=$bulk + $nconns x BENCH_RECEIPTS=$reserve" >&2
  exit 2
fi
if [[ " $fronts " == *" nginx2 "* && $engine != postgres ]]; then
  echo "BENCH_FRONTS=nginx2 needs BENCH_ENGINE=postgres (two nodes on one database)" >&2
  exit 2
fi

cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
work=$(mktemp -d /tmp/varco-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); ap=$(port); bp=$(port)
sed "s/^cache_mb = .*/cache_mb = $cache_mb/" varco.example.toml > "$work/varco.toml"
if [[ ${BENCH_JOURNAL:-1} == 0 ]]; then
  printf '\n[journal]\nenabled = false\n' >> "$work/varco.toml"
fi
log_level=${BENCH_LOG:-info}
log_format=${BENCH_LOG_FORMAT:-text}
if [[ $engine == postgres ]]; then
  db="varco_bench_$(date +%s)"
  psql -q "$VARCO_TEST_PG" -c "CREATE DATABASE $db"
  psql -q "${VARCO_TEST_PG/dbname=postgres/dbname=$db}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>/dev/null || true
  sed -i "s|^\[store\]|[store]\nengine = \"postgres\"\nurl = \"${VARCO_TEST_PG/dbname=postgres/dbname=$db}\"|" "$work/varco.toml"
fi
VARCO_LOG=$log_level ./target/release/varco --log-format "$log_format" serve --config "$work/varco.toml" --data-dir "$work/data" \
  --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap > "$work/varco.log" 2>&1 &
varco_pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.1; done
if [[ $fronts == *nginx* ]]; then
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  np2=$(port); ap2=$(port); fp=$(port); fap=$(port); fp2=$(port); fap2=$(port); bfp=$(port); bfap=$(port)
  if [[ " $fronts " == *" nginx2 "* ]]; then
    VARCO_LOG=error ./target/release/varco serve --config "$work/varco.toml" --data-dir "$work/data2" \
      --nodo-listen 127.0.0.1:$np2 --api-listen 127.0.0.1:$ap2 > "$work/varco2.log" 2>&1 &
    varco2_pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap2/readyz >/dev/null && break; sleep 0.1; done
    python3 bench/nginx_front.py deploy/nginx/varco.conf "$work/nginx" two $fp2 $fap2 \
      127.0.0.1:$np,127.0.0.1:$np2 127.0.0.1:$ap,127.0.0.1:$ap2
  fi
  python3 bench/nginx_front.py deploy/nginx/varco.conf "$work/nginx" one $fp $fap 127.0.0.1:$np 127.0.0.1:$ap
  python3 bench/nginx_front.py deploy/nginx/varco.conf "$work/nginx" bare $bfp $bfap 127.0.0.1:$bp 127.0.0.1:$bp
  "$nginx" -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
  "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx.log" &
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$fp) 2>/dev/null && break; sleep 0.1; done
fi
B=./target/release/varco-bench
api=http://127.0.0.1:$ap
varco=http://127.0.0.1:$np/paForNode
mem() { awk '/^VmRSS|^VmHWM/ {printf "%s=%dMiB ", $1, $2/1024}' /proc/$varco_pid/status; }
# VmRSS now as a summary row (the memory goal: store.cache_mb + 256 MiB under load).
mem_row() {
  echo "{\"op\":\"mem\",\"when\":\"$1\",\"rss_kib\":$(awk '/^VmRSS/ {print $2}' /proc/$varco_pid/status),\"cache_mb\":$cache_mb}" >> "$out"
}
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ${secs}s per run, connections: $conns_list, fronts: $fronts, store.engine=$engine, store.cache_mb=$cache_mb, VARCO_LOG=$log_level --log-format $log_format, journal ${BENCH_JOURNAL:-1}, load generator on the same machine"

# Bulk load: one POST /api/pendenze/v2/pendenze/tracciati of BENCH_BULK positions into the
# fresh store (answered once every position is stored and flushed); then the rest of the
# preload in chunks.
line=$($B preload --api-url "$api" --count "$bulk" --chunk "$bulk" --id-prefix bulk --json-out "$out")
echo "bulk (one request): $line"
echo "{\"op\":\"bulk\",\"single_request\":true,\"chunk\":$bulk,\"positions_per_s\":$(kv positions_per_s <<<"$line")}" >> "$out"
first=$(kv first_reference <<<"$line")
line=$($B preload --api-url "$api" --count $((preload - bulk)) --chunk "$chunk" --id-prefix pre --json-out "$out")
echo "preload (chunks of $chunk): $line"
echo "{\"op\":\"bulk\",\"chunk\":$chunk,\"positions_per_s\":$(kv positions_per_s <<<"$line")}" >> "$out"
last=$(kv last_reference <<<"$line")
if (( last - first + 1 != preload )); then
  echo "warning: references $first..=$last are not $preload contiguous positions" >&2
fi
if [[ $engine == postgres ]]; then
  du_bytes=$(psql -Atq "$VARCO_TEST_PG" -c "SELECT pg_database_size('$db')")
else
  du_bytes=$(du -sb "$work/data" | cut -f1)
fi
echo "store: $preload positions, $du_bytes bytes on disk = $((du_bytes / preload)) bytes/position; $(mem)"
echo "{\"op\":\"store\",\"positions\":$preload,\"disk_bytes\":$du_bytes,\"rss\":\"$(mem)\"}" >> "$out"
mem_row "after the preload"

# Verify and activate draw a random preloaded notice per request; the top nconns x
# BENCH_RECEIPTS references are kept for receipts, one slice per connection count, walked in
# order, so every receipt is a full durable write (receipt + the position closed + outbox
# entry, one group-commit flush) on a position paid once.
hot="$first..=$((last - reserve * nconns))"
slice=0
for front in $fronts; do
 case $front in
   direct) varco_url=$varco; bare_url=http://127.0.0.1:$bp/ ;;
   nginx1) varco_url=http://127.0.0.1:$fp/paForNode; bare_url=http://127.0.0.1:$bfp/paForNode ;;
   nginx2) varco_url=http://127.0.0.1:$fp2/paForNode; bare_url=http://127.0.0.1:$bfp/paForNode ;;
   *) echo "unknown front $front" >&2; exit 2 ;;
 esac
 for conns in $conns_list; do
  rfrom=$((last - reserve * nconns + 1 + reserve * slice))
  rto=$((rfrom + reserve - 1))
  slice=$((slice + 1))
  for spec in "paVerifyPaymentNotice bench/requests/verify.xml $hot $first" \
              "paGetPaymentV2 bench/requests/get_payment_v2.xml $hot $first" \
              "paSendRTV2 bench/requests/send_rt_v2.xml $rfrom..=$rto $rto --unique-receipts --sequential-notices"; do
    set -- $spec
    op=$1; body=$2; range=$3; sample=$4; shift 4
    # The bare server answers with the bytes Varco gives for one of these requests.
    $B capture --url "$varco" --soap-action "$op" --body-file "$body" --notices "$sample" \
      -o "$work/$op.res.xml" >/dev/null
    $B bare --listen 127.0.0.1:$bp --response-file "$work/$op.res.xml" 2>/dev/null &
    bare_pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$bp) 2>/dev/null && break; sleep 0.1; done
    $B compare --varco-url "$varco_url" --bare-url "$bare_url" --soap-action "$op" \
      --body-file "$body" --notices "$range" --connections "$conns" --duration "$secs" \
      --warmup "$warmup" --json-out "$out" --label "$engine $front store=$preload" "$@"
    kill $bare_pid; wait $bare_pid 2>/dev/null || true
  done
  echo "after $conns connections ($front): $(mem)"
  mem_row "after $conns connections ($front)"
 done
done
if [[ $engine == postgres ]]; then
  # Where PostgreSQL's figures come from: statements (round trips, BEGIN and COMMIT included)
  # and commits per request, each operation alone for 3 s on 4 connections, no warm-up, the
  # idle background (readiness probe, outbox poll) of the same 3 s subtracted.
  pgdb=${VARCO_TEST_PG/dbname=postgres/dbname=$db}
  counters() {
    psql -Atq "$pgdb" -c "SELECT (SELECT coalesce(sum(calls),0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db') || ' ' || (SELECT xact_commit FROM pg_stat_database WHERE datname = '$db')"
  }
  if counters >/dev/null 2>&1; then
    read -r s0 c0 <<<"$(counters)"; sleep 4.5; read -r s1 c1 <<<"$(counters)"
    idle_s=$((s1 - s0)); idle_c=$((c1 - c0 - 2))
    for spec in "paVerifyPaymentNotice bench/requests/verify.xml $hot" \
                "paGetPaymentV2 bench/requests/get_payment_v2.xml $hot" \
                "paSendRTV2 bench/requests/send_rt_v2.xml $first..=$((first + bulk - 1)) --unique-receipts --sequential-notices"; do
      set -- $spec
      op=$1; body=$2; range=$3; shift 3
      read -r s0 c0 <<<"$(counters)"
      n=$($B load --url "$varco" --soap-action "$op" --body-file "$body" --notices "$range" \
        --connections 4 --duration 3 --warmup 0 --json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
      sleep 1.5; read -r s1 c1 <<<"$(counters)"
      python3 -c "
s, c, n = $((s1 - s0 - idle_s)), $((c1 - c0 - 2 - idle_c)), $n
print(f'postgres round trips: $op {s / n:.2f} statements and {c / n:.2f} commits per request ({n} requests)')"
      echo "{\"op\":\"pg_round_trips\",\"soap\":\"$op\",\"requests\":$n,\"statements\":$((s1 - s0 - idle_s)),\"commits\":$((c1 - c0 - 2 - idle_c))}" >> "$out"
    done
  fi
  # Commits and WAL flushes over the whole run.
  psql -Atq "$VARCO_TEST_PG" -c "SELECT 'postgres: xact_commit=' || xact_commit || ' xact_rollback=' || xact_rollback || ' tup_inserted=' || tup_inserted || ' tup_updated=' || tup_updated FROM pg_stat_database WHERE datname = '$db'"
  psql -Atq "$VARCO_TEST_PG" -c "SELECT 'postgres wal: records=' || wal_records || ' bytes=' || wal_bytes || ' writes=' || wal_write || ' syncs=' || wal_sync FROM pg_stat_wal"
fi

# Does a wrong-password flood or a crowd of listings on the api listener move verify's p99?
if [[ ${BENCH_DISTURB:-1} != 0 ]]; then
  echo "disturb: verify p99 at 64 connections, ${secs}s each: quiet, during probes (200 connections of GET /healthz, the control), during a wrong-password flood (200 connections, api listener), during listings (16 connections, GET /api/pendenze/v2/pendenze?risultatiPerPagina=25 with the count)"
  $B disturb --url "$varco" --api-url "$api" --soap-action paVerifyPaymentNotice \
    --body-file bench/requests/verify.xml --notices "$hot" --connections 64 --duration "$secs" \
    --warmup "$warmup" --flood-connections 200 --listing-connections 16 \
    --json-out "$out" --label "store=$preload"
  echo "after disturb: $(mem)"
fi
flushes=$(curl -sf "$api/metrics" | awk '/^varco_store_flushes_total /{print $2}') || true
waiters=$(curl -sf "$api/metrics" | awk '/^varco_store_flush_waiters_total /{print $2}') || true
echo "group commit: ${flushes:-?} flushes for ${waiters:-?} waiters"
echo "{\"op\":\"rss_end\",\"rss\":\"$(mem)\"}" >> "$out"
log_bytes=$(stat -c %s "$work/varco.log")
echo "log: $(wc -l < "$work/varco.log") lines, $log_bytes bytes ($log_level, $log_format)"
echo "{\"op\":\"log\",\"lines\":$(wc -l < "$work/varco.log"),\"bytes\":$log_bytes}" >> "$out"

# Notices rendered per second on one core (PDF with its QR code).
if [[ ${BENCH_NOTICES:-1} != 0 ]]; then
  cargo run --release -q --example notice_timing -- 1000
fi
python3 bench/summary.py "$out"
echo "summary: $out"
