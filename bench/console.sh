#!/usr/bin/env bash
# make bench-console: the operator console's pages on a large store. Loads BENCH_CONSOLE_POSITIONS
# positions (varco-bench preload: every ten share a debtor, a surname is one debtor in 29), logs
# in as the demo operator and fetches each page BENCH_CONSOLE_N times, one at a time, on one
# machine; prints per page p50 / p95 / max of the client's total time (curl, loopback) and, for
# the positions search, of the time the server itself reports on the page ("µs al server": from
# the handler's start to the rendered page, before the body is sent).
#
# Usage: bench/console.sh
# Environment (defaults in brackets):
#   BENCH_CONSOLE_POSITIONS [1000000]  BENCH_CONSOLE_N [50]  BENCH_CHUNK [10000]
#   BENCH_CONSOLE_DIR [/tmp/varco-console]  (deleted at the end unless BENCH_KEEP=1)
#   BENCH_STORE: sled (default) or postgres (on a throwaway cluster: tests/pg.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
positions=${BENCH_CONSOLE_POSITIONS:-1000000}
n=${BENCH_CONSOLE_N:-50}
chunk=${BENCH_CHUNK:-10000}
dir=${BENCH_CONSOLE_DIR:-/tmp/varco-console}
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
cp varco.example.toml "$dir/varco.toml"
if [[ ${BENCH_STORE:-sled} == postgres ]]; then
  [[ -n ${VARCO_TEST_PG:-} ]] || exec tests/pg.sh run env BENCH_STORE=postgres "$0" "$@"
  sed -i "s|^\[store\]|[store]\nengine = \"postgres\"\nurl = \"$VARCO_TEST_PG\"|" "$dir/varco.toml"
fi
B=./target/release/varco-bench
api=http://127.0.0.1:$ap
VARCO_LOG=error ./target/release/varco serve --config "$dir/varco.toml" --data-dir "$dir/data" \
  --nodo-listen 127.0.0.1:$np --api-listen 127.0.0.1:$ap >> "$dir/varco.log" 2>&1 &
pid=$!
for _ in $(seq 6000); do
  curl -sf -o /dev/null "$api/readyz" && break
  kill -0 "$pid" 2>/dev/null || { echo "varco exited; log:" >&2; tail "$dir/varco.log" >&2; exit 1; }
  sleep 0.01
done
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ${BENCH_STORE:-sled}, $positions positions, $n fetches per page"
line=$($B preload --api-url "$api" --count "$positions" --chunk "$chunk" --start 0 --id-prefix console)
echo "load: $line"
nav=$(sed -n 's/.* last_notice=\([0-9]*\).*/\1/p' <<<"$line")

jar=$dir/cookies
form=$(curl -sf -c "$jar" "$api/console/login")
token=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$form" | head -1)
curl -sf -o /dev/null -b "$jar" -c "$jar" --data-urlencode "username=admin" \
  --data-urlencode "password=demo" --data-urlencode "csrf=$token" "$api/console/login"

# page LABEL PATH: n fetches; client times, and server times when the page reports one.
page() {
  local label=$1 path=$2 times=$dir/times server=$dir/server
  : > "$times"; : > "$server"
  for _ in $(seq "$n"); do
    curl -s -b "$jar" -o "$dir/body" -w '%{http_code} %{time_total}\n' "$api$path" >> "$times"
    sed -n 's/.* \([0-9]*\) µs al server.*/\1/p' "$dir/body" >> "$server"
  done
  python3 - "$label" "$times" "$server" "$dir/body" <<'EOF'
import sys
label, times, server, body = sys.argv[1:]
rows = [l.split() for l in open(times)]
bad = [r[0] for r in rows if r[0] != "200"]
t = sorted(float(r[1]) * 1000 for r in rows)
s = sorted(int(x) / 1000 for x in open(server).read().split())
def q(v, p): return v[min(len(v) - 1, int(len(v) * p))]
line = f"{label:<42} client p50 {q(t, .5):7.2f} ms  p95 {q(t, .95):7.2f} ms  max {t[-1]:7.2f} ms"
if s:
    line += f" | server p50 {q(s, .5):6.2f} ms  p95 {q(s, .95):6.2f} ms  max {s[-1]:6.2f} ms"
if bad:
    line += f"  NON-200: {sorted(set(bad))}"
print(line)
EOF
}

page "login page (no session work)" "/console/login"
page "dashboard (cached after the first)" "/console/"
page "search: notice number" "/console/pendenze?q=$nav"
page "search: debtor fiscal code" "/console/pendenze?q=RSSMRA80A0012345"
page "search: one surname (1 in 29)" "/console/pendenze?q=Esposito"
page "search: name and surname" "/console/pendenze?q=Giulia+Esposito"
page "search: surname, page 20" "/console/pendenze?q=Esposito&pagina=20"
page "search: state NON_ESEGUITA, newest" "/console/pendenze?stato=NON_ESEGUITA"
page "search: all, page 200" "/console/pendenze?applicazione=demo&pagina=200"
page "detail of a position" "/console/pendenze/77777777777/${nav:1}"
page "journal" "/console/giornale"
page "outbox" "/console/outbox"
page "configuration" "/console/configurazione"
