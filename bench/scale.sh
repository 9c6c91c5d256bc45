#!/usr/bin/env bash
# make bench-scale: how Varco behaves as the store grows. Loads positions through
# POST /pendenze/tracciati up to each size of BENCH_SCALE_STEPS, and at each size measures:
#   - bulk-load rate of that step (chunks of BENCH_CHUNK, each answered once flushed);
#   - disk bytes per position (du -sb of the data directory / positions);
#   - paVerifyPaymentNotice at 1 and 64 connections on random notices of the whole store;
#   - resident memory under that load (VmRSS sampled every 0.5 s: peak; and VmHWM);
#   - the time of one GET /metrics (it counts the positions);
#   - restart-to-ready: SIGTERM, wait for exit (stop time), start again, time until /readyz
#     answers 200; then verify at 1 connection on the cold cache.
#
# Usage: bench/scale.sh
# Environment (defaults in brackets):
#   BENCH_SCALE_STEPS ["1000000 10000000"]  store sizes, increasing
#   BENCH_SCALE_DIR [/tmp/varco-scale]      data directory (deleted at the end unless BENCH_KEEP=1)
#   BENCH_SECS [10]  BENCH_CHUNK [10000]  BENCH_CACHE_MB [256]
#   BENCH_LOG [info]  VARCO_LOG of the server (production default: a line per request, to a file)
#   BENCH_OUT [target/bench/scale-<UTC time>.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${BENCH_SCALE_STEPS:-1000000 10000000}
dir=${BENCH_SCALE_DIR:-/tmp/varco-scale}
secs=${BENCH_SECS:-10}
chunk=${BENCH_CHUNK:-10000}
cache_mb=${BENCH_CACHE_MB:-256}
mkdir -p target/bench
out=${BENCH_OUT:-target/bench/scale-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
: > "$out"
cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
rm -rf "$dir"
mkdir -p "$dir"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); ap=$(port)
sed "s/^cache_mb = .*/cache_mb = $cache_mb/" varco.example.toml > "$dir/varco.toml"
B=./target/release/varco-bench
api=http://127.0.0.1:$ap
varco=http://127.0.0.1:$np/paForNode
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
now() { date +%s.%N; }

start() {
  VARCO_LOG=${BENCH_LOG:-info} ./target/release/varco serve --config "$dir/varco.toml" --data-dir "$dir/data" \
    --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap >> "$dir/varco.log" 2>&1 &
  pid=$!
}
wait_ready() {
  for _ in $(seq 6000); do
    curl -sf -o /dev/null "$api/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "varco exited; log:" >&2; tail "$dir/varco.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "not ready after 60 s" >&2; exit 1
}
# Peak VmRSS (KiB) while the command runs.
with_rss() {
  local samples=$dir/rss.samples
  : > "$samples"
  ( while kill -0 "$pid" 2>/dev/null; do awk '/^VmRSS/ {print $2}' /proc/$pid/status >> "$samples"; sleep 0.5; done ) &
  local sampler=$!
  "$@"
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null || true
  peak_rss_kib=$(sort -n "$samples" | tail -1)
}
verify() { # conns label
  $B load --url "$varco" --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml \
    --notices "$first..=$last" --connections "$1" --duration "$secs" --warmup 1 \
    --json-out "$out" --label "$2"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), store.cache_mb=$cache_mb, steps: $steps, data in $dir"
start
wait_ready
loaded=0
first=
for size in $steps; do
  if (( loaded > 0 )); then
    avail=$(df -B1 --output=avail "$dir" | tail -1)
    need=$(( $(du -sb "$dir/data" | cut -f1) / loaded * (size - loaded) * 13 / 10 ))
    if (( need > avail )); then
      echo "stopping: $size positions need ~$need more bytes (1.3 x the measured bytes/position), $avail free" >&2
      break
    fi
  fi
  line=$($B preload --api-url "$api" --count $((size - loaded)) --chunk "$chunk" --start "$loaded" \
         --id-prefix scale --json-out "$out")
  echo "load $loaded -> $size: $line"
  [[ -n $first ]] || first=$(kv first_reference <<<"$line")
  last=$(kv last_reference <<<"$line")
  loaded=$size
  sleep 2   # let sled's background flush settle before measuring the disk
  bytes=$(du -sb "$dir/data" | cut -f1)
  echo "store $size: $bytes bytes on disk = $((bytes / size)) bytes/position"
  metrics_s=$(curl -sf -o /dev/null -w '%{time_total}' "$api/metrics" || echo -1)
  echo "store $size: GET /metrics took $metrics_s s"
  with_rss verify 1 "store=$size warm"
  rss1=$peak_rss_kib
  with_rss verify 64 "store=$size warm"
  rss64=$peak_rss_kib
  hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
  echo "store $size: peak VmRSS $((rss1 / 1024)) MiB (1 conn), $((rss64 / 1024)) MiB (64 conns), VmHWM $((hwm / 1024)) MiB"
  t0=$(now)
  kill -TERM "$pid"
  wait "$pid" || true
  t1=$(now)
  start
  wait_ready
  t2=$(now)
  stop_s=$(printf '%.3f' "$(echo "$t1 - $t0" | bc -l)")
  ready_s=$(printf '%.3f' "$(echo "$t2 - $t1" | bc -l)")
  rss_ready=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  printf 'store %d: stop %s s, start-to-ready %s s, VmRSS when ready %d MiB\n' "$size" "$stop_s" "$ready_s" $((rss_ready / 1024))
  verify 1 "store=$size cold (after restart)"
  echo "{\"op\":\"scale\",\"positions\":$size,\"disk_bytes\":$bytes,\"bytes_per_position\":$((bytes / size)),\"peak_rss_kib_1\":$rss1,\"peak_rss_kib_64\":$rss64,\"vmhwm_kib\":$hwm,\"stop_s\":$stop_s,\"start_to_ready_s\":$ready_s,\"rss_ready_kib\":$rss_ready,\"cache_mb\":$cache_mb,\"metrics_s\":$metrics_s}" >> "$out"
done
python3 bench/summary.py "$out"
echo "summary: $out"
