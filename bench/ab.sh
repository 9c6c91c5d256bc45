#!/usr/bin/env bash
# A/B of one server-side change, alternating A and B ROUNDS times on a fresh store each
# (PRELOAD positions), measuring bulk load, verify, activate and receipts at CONNS
# connections. On a shared machine alternate runs are what makes the two comparable.
#
# Both sides run with the production defaults (journal on, one info log line per request, to a
# file) unless the mode changes one of them.
#
# Usage: bench/ab.sh journal|log|json|jemalloc|binary [ROUNDS] [SECS]
#   journal   A: default configuration (journal on)   B: [journal] enabled = false
#   log       A: info log lines                        B: VARCO_LOG=error (no line per request)
#   json      A: --log-format text                     B: --log-format json
#   jemalloc  A: glibc malloc                         B: LD_PRELOAD=libjemalloc.so.2
#             (apt-get install libjemalloc2): what a global allocator would give
#   binary    A: this tree's release binary (or $BIN_A) B: the binary at $BIN_B (a release build
#             of an earlier commit, in a worktree of its own): what a change cost
# Environment: PRELOAD [100000], CONNS [64]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: $0 journal|log|json|jemalloc|binary [ROUNDS] [SECS]}
rounds=${2:-2}
secs=${3:-5}
preload=${PRELOAD:-100000}
conns=${CONNS:-64}
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
B=./target/release/varco-bench
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() { # variant: A | B
  local v=$1 w
  w=$(mktemp -d /tmp/varco-ab.XXXXXX)
  cp varco.example.toml "$w/varco.toml"
  local preload_lib= bin=${BIN_A:-./target/release/varco} level=info format=text
  case "$what/$1" in
    binary/B) bin=${BIN_B:?binary needs BIN_B=<path of the other varco binary>} ;;
    journal/B) printf '\n[journal]\nenabled = false\n' >> "$w/varco.toml" ;;
    jemalloc/B) preload_lib=$jemalloc ;;
    log/B) level=error ;;
    json/B) format=json ;;
  esac
  local np ap
  np=$(port); ap=$(port)
  LD_PRELOAD=$preload_lib VARCO_LOG=$level "$bin" --log-format $format serve --config "$w/varco.toml" \
    --data-dir "$w/data" --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap > "$w/log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.1; done
  local line first last hot
  line=$($B preload --api-url http://127.0.0.1:$ap --count "$preload")
  echo "$what $v bulk: positions_per_s=$(kv positions_per_s <<<"$line")"
  first=$(kv first_reference <<<"$line"); last=$(kv last_reference <<<"$line")
  hot="$first..=$((last - preload / 4))"
  for spec in "paVerifyPaymentNotice bench/requests/verify.xml $hot" \
              "paGetPaymentV2 bench/requests/get_payment_v2.xml $hot" \
              "paSendRTV2 bench/requests/send_rt_v2.xml $((last - preload / 4 + 1))..=$last --unique-receipts --sequential-notices"; do
    set -- $spec
    local op=$1 body=$2 range=$3
    shift 3
    echo "$what $v $($B load --url http://127.0.0.1:$np/paForNode --soap-action "$op" --body-file "$body" \
      --notices "$range" --connections "$conns" --duration "$secs" "$@")"
  done
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$w"
}
for _ in $(seq "$rounds"); do
  run A
  run B
done
