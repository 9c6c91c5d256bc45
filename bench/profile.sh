#!/usr/bin/env bash
# Where Varco's CPU goes under one load: starts the release binary on a fresh store preloaded
# with PRELOAD positions, drives OP at CONNS connections for SECS seconds, and samples the
# server with `perf record -e cpu-clock` (software clock: works where hardware counters are
# not exposed, as on this VM). Prints the top functions by self time and writes perf.data
# into $PROFILE_OUT (default target/bench/profile-OP-CONNS).
#
# Usage: bench/profile.sh OP [CONNS] [SECS] [PRELOAD]
#   OP: verify | activate | receipt | bulk  (bulk: profiles PRELOAD positions loaded in
#   chunks of BENCH_CHUNK [10000] instead of a SOAP load)
# Environment: PERF_CALLGRAPH=1 records call graphs (--call-graph dwarf; large files).
set -euo pipefail
cd "$(dirname "$0")/.."
op=${1:?usage: $0 verify|activate|receipt|bulk [CONNS] [SECS] [PRELOAD]}
conns=${2:-64}
secs=${3:-10}
preload=${4:-100000}
out=${PROFILE_OUT:-target/bench/profile-$op-$conns}
mkdir -p "$out"
cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
work=$(mktemp -d /tmp/varco-profile.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); ap=$(port)
VARCO_LOG=${VARCO_LOG:-info} ./target/release/varco ${VARCO_FLAGS:-} serve --data-dir "$work/data" \
  --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap > "$work/varco.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.1; done
B=./target/release/varco-bench
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
cg=()
[[ ${PERF_CALLGRAPH:-0} == 1 ]] && cg=(--call-graph dwarf,16384 -F 499)
if [[ $op == bulk ]]; then
  perf record -e cpu-clock "${cg[@]}" -o "$out/perf.data" -p $pid 2>"$out/perf.log" &
  perf_pid=$!
  sleep 0.5
  $B preload --api-url http://127.0.0.1:$ap --count "$preload" --chunk "${BENCH_CHUNK:-10000}" --id-prefix prof
else
  line=$($B preload --api-url http://127.0.0.1:$ap --count "$preload" --chunk 10000 --id-prefix prof)
  first=$(kv first_reference <<<"$line"); last=$(kv last_reference <<<"$line")
  case $op in
    verify) args=(--soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml --notices "$first..=$last") ;;
    activate) args=(--soap-action paGetPaymentV2 --body-file bench/requests/get_payment_v2.xml --notices "$first..=$last") ;;
    receipt) args=(--soap-action paSendRTV2 --body-file bench/requests/send_rt_v2.xml --notices "$first..=$last" --sequential-notices --unique-receipts) ;;
    *) echo "unknown op $op" >&2; exit 2 ;;
  esac
  perf record -e cpu-clock "${cg[@]}" -o "$out/perf.data" -p $pid 2>"$out/perf.log" &
  perf_pid=$!
  sleep 0.5
  $B load --url http://127.0.0.1:$np/paForNode "${args[@]}" --connections "$conns" --duration "$secs" --warmup 0.5
fi
kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true
perf report -i "$out/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio 2>/dev/null | sed "s/  *$//" \
  | grep -v '^#' | grep -v '^$' | head -60 | tee "$out/top.txt"
echo "perf data: $out/perf.data"
