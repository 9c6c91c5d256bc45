#!/usr/bin/env bash
# make bench: Varco (release binary, demo configuration, fresh store) against a bare hyper
# server answering the same bytes, in one run, on loopback, for verify, activate (V2) and
# durable receipts (V2, each receiptId unique).
#
# Usage: bench/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
cargo build --release -q --bin varco -p varco-bench --bin varco-bench --workspace
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); ap=$(port); bp=$(port)
VARCO_LOG=error ./target/release/varco serve --data-dir "$work/data" \
  --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap > /dev/null &
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ap/readyz >/dev/null && break; sleep 0.1; done
B=./target/release/varco-bench
varco=http://127.0.0.1:$np/paForNode
# Receipts go to a notice the store does not hold, so each one is a full durable write
# (receipt + outbox entry + group-commit flush) without growing one position's history.
sed 's/301000000000000144/301000000009999967/; s/01000000000000144/01000000009999967/g' \
  bench/requests/send_rt_v2.xml > "$work/send_rt_v2.xml"
echo "# $(date -u +%FT%TZ) $(nproc) cores, ${secs}s per run, $conns connections, load generator on the same machine"
for spec in "paVerifyPaymentNotice bench/requests/verify.xml" \
            "paGetPaymentV2 bench/requests/get_payment_v2.xml" \
            "paSendRTV2 $work/send_rt_v2.xml --unique-receipts"; do
  set -- $spec
  op=$1; body=$2; shift 2
  $B capture --url "$varco" --soap-action "$op" --body-file "$body" -o "$work/$op.res.xml" >/dev/null
  $B bare --listen 127.0.0.1:$bp --response-file "$work/$op.res.xml" 2>/dev/null &
  bare_pid=$!
  sleep 0.3
  $B compare --varco-url "$varco" --bare-url http://127.0.0.1:$bp/ --soap-action "$op" \
    --body-file "$body" --connections "$conns" --duration "$secs" "$@"
  kill $bare_pid; wait $bare_pid 2>/dev/null || true
done

# Bulk load: POST /api/pendenze/v2/tracciati with 100k positions (one request, answered once
# every position is stored and flushed).
python3 bench/tracciato.py 100000 > "$work/tracciato.json"
secs_bulk=$(curl -sf -u demo:demo -H 'Content-Type: application/json' --data-binary @"$work/tracciato.json" \
  -o "$work/tracciato.out" -w '%{time_total}' http://127.0.0.1:$ap/api/pendenze/v2/pendenze/tracciati)
python3 - "$work/tracciato.out" "$secs_bulk" <<'PY'
import json, sys
out = json.load(open(sys.argv[1])); secs = float(sys.argv[2])
print(f"op=tracciati positions={out['numPendenze']} errors={out['numErrori']} seconds={secs:.2f} positions_per_s={out['numPendenze']/secs:.0f}")
PY

# Notices rendered per second on one core (PDF with its QR code).
cargo run --release -q --example notice_timing -- 1000
