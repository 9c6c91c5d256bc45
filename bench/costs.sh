#!/usr/bin/env bash
# The cost table per request stage (issue 19): where the server's CPU goes per request, in µs.
# Starts the release binary with the production defaults (journal on, one info log line per
# request written to a file), preloads PRELOAD positions, then for each operation:
#   1. drives it at CONNS connections for SECS seconds without a profiler, and reads the
#      server's CPU time (utime + stime of /proc/PID/stat) over the run: CPU µs per request;
#   2. drives it again under `perf record --call-graph dwarf` and gives every sample to one
#      stage (bench/costs.py: the innermost frame of the call chain that names a stage);
#   3. prints stage shares times (1): µs per request per stage.
# The bare server (`varco-bench bare`, answering the same bytes) gets step 1 too: what any
# HTTP answer costs on this machine, the floor under Varco's figure.
#
# Usage: bench/costs.sh [OPS] ; OPS: "verify activate" by default
# Environment: PRELOAD [1000000]  CONNS [64]  SECS [8]  VARCO_LOG [info]  LOG_FORMAT [text]
#              VARCO_BIN [./target/release/varco] (another build, for a "before" table)
#              JOURNAL [1]  OUT [target/bench/costs-<UTC time>.md]
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${*:-verify activate}
preload=${PRELOAD:-1000000}
conns=${CONNS:-64}
secs=${SECS:-8}
mkdir -p target/bench
out=${OUT:-target/bench/costs-$(date -u +%Y%m%dT%H%M%SZ).md}
cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
work=$(mktemp -d /tmp/varco-costs.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); ap=$(port); bp=$(port)
cp varco.example.toml "$work/varco.toml"
[[ ${JOURNAL:-1} == 1 ]] || printf '\n[journal]\nenabled = false\n' >> "$work/varco.toml"
VARCO_LOG=${VARCO_LOG:-info} ${VARCO_BIN:-./target/release/varco} --log-format "${LOG_FORMAT:-text}" serve \
  --config "$work/varco.toml" --data-dir "$work/data" \
  --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap > "$work/varco.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.1; done
B=./target/release/varco-bench
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
line=$($B preload --api-url http://127.0.0.1:$ap --count "$preload" --chunk 10000 --id-prefix cost)
first=$(kv first_reference <<<"$line"); last=$(kv last_reference <<<"$line")
{
echo "# Cost per request stage, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $preload positions, $conns connections, ${secs}s per run, VARCO_LOG=${VARCO_LOG:-info} --log-format ${LOG_FORMAT:-text}, journal ${JOURNAL:-1}"
for op in $ops; do
  case $op in
    verify) action=paVerifyPaymentNotice; body=bench/requests/verify.xml ;;
    activate) action=paGetPaymentV2; body=bench/requests/get_payment_v2.xml ;;
    *) echo "unknown op $op" >&2; exit 2 ;;
  esac
  args=(--soap-action "$action" --body-file "$body" --notices "$first..=$last" --connections "$conns" --duration "$secs" --warmup 1)
  # (1) CPU per request, no profiler.
  t0=$(ticks $pid)
  res=$($B load --url http://127.0.0.1:$np/paForNode "${args[@]}")
  t1=$(ticks $pid)
  n=$(kv requests <<<"$res"); rps=$(kv rps <<<"$res")
  # The load's warm-up second is not in `requests`: charge CPU over (warmup + secs) to the
  # requests of both, estimated from the measured rate.
  cpu_us=$(python3 -c "print(($t1 - $t0) / $hz * 1e6 / ($n + $rps * 1))")
  # The bare server answering Varco's bytes for the same request.
  $B capture --url http://127.0.0.1:$np/paForNode --soap-action "$action" --body-file "$body" --notices "$first" -o "$work/res.xml" >/dev/null
  $B bare --listen 127.0.0.1:$bp --response-file "$work/res.xml" 2>/dev/null &
  bare=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$bp) 2>/dev/null && break; sleep 0.1; done
  b0=$(ticks $bare)
  bres=$($B load --url http://127.0.0.1:$bp/ "${args[@]}")
  b1=$(ticks $bare)
  kill $bare; wait $bare 2>/dev/null || true
  bn=$(kv requests <<<"$bres"); brps=$(kv rps <<<"$bres")
  bare_us=$(python3 -c "print(($b1 - $b0) / $hz * 1e6 / ($bn + $brps * 1))")
  echo
  echo "## $action: Varco $(printf '%.0f' "$rps") req/s, $(printf '%.1f' "$cpu_us") µs of server CPU per request; bare server $(printf '%.0f' "$brps") req/s, $(printf '%.1f' "$bare_us") µs"
  echo
  # (2) the profile.
  perf record -e cpu-clock --call-graph dwarf,16384 -F 999 -o "$work/perf.data" -p $pid 2>"$work/perf.log" &
  perf_pid=$!
  sleep 0.5
  $B load --url http://127.0.0.1:$np/paForNode "${args[@]}" >/dev/null
  kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true
  perf script -i "$work/perf.data" -F comm,tid,ip,sym --no-inline 2>/dev/null | gzip -1 > "${out%.md}-$op.perf.txt.gz"
  zcat "${out%.md}-$op.perf.txt.gz" | python3 bench/costs.py "$cpu_us" "$action"
done
echo
echo "log: $(wc -l < "$work/varco.log") lines, $(stat -c %s "$work/varco.log") bytes"
} | tee "$out"
echo "written: $out"
