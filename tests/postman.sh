#!/usr/bin/env bash
# Runs the Postman collection (docs/postman/) with newman against a fresh Varco:
#
#   tests/postman.sh [BINARY [NEWMAN ARGS...]]     (BINARY defaults to target/release/varco)
#
# Starts `BINARY serve` on the embedded demo configuration with a new store in a temporary
# directory and two free loopback ports, waits for /readyz, runs the collection (stopping at
# the first failure), stops the server and removes the directory. Exits with newman's status.
# Extra arguments go to newman, e.g. `--folder "3. Pay with V1: verify, paGetPayment, paSendRT"`.
#
# newman: $NEWMAN if set, else .cache/newman under the repository, installed there with npm
# (Node.js >= 16) the first time. POSTMAN_READY_SECS (30) bounds the wait for /readyz.
set -euo pipefail

NEWMAN_VERSION=6.2.2
READY_SECS=${POSTMAN_READY_SECS:-30}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bin=${1:-target/release/varco}
shift || true
if [[ ! -x $bin ]]; then
    echo "postman.sh: no executable Varco binary at $bin (build it with: cargo build --release)" >&2
    exit 2
fi
command -v curl >/dev/null || { echo "postman.sh: curl is needed" >&2; exit 2; }

# --- newman ---------------------------------------------------------------------------------
newman=${NEWMAN:-}
if [[ -z $newman ]]; then
    newman=$repo/.cache/newman/node_modules/.bin/newman
    if [[ ! -x $newman ]]; then
        command -v npm >/dev/null || {
            echo "postman.sh: newman is missing and npm is not installed (install Node.js >= 16, or set NEWMAN)" >&2
            exit 2
        }
        echo "postman.sh: installing newman $NEWMAN_VERSION into .cache/newman"
        npm install --prefix "$repo/.cache/newman" --no-audit --no-fund --loglevel=error \
            "newman@$NEWMAN_VERSION" >&2
    fi
fi

# --- the server -----------------------------------------------------------------------------
data=$(mktemp -d "${TMPDIR:-/tmp}/varco-postman.XXXXXX")
log=$data/varco.log
pid=

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        # A clean stop flushes the store; give it a few seconds, then insist.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$data"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nobody listens on (a listener that answers on it means it is taken).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "postman.sh: found no free port" >&2
    return 1
}

# Started up to three times: another process may take a port between the check and the bind.
ready=
for attempt in 1 2 3; do
    nodo_port=$(free_port)
    api_port=$(free_port)
    while [[ $api_port == "$nodo_port" ]]; do api_port=$(free_port); done
    rm -rf "$data/store"
    "$bin" serve --data-dir "$data/store" \
        --nodo-listen "127.0.0.1:$nodo_port" --api-listen "127.0.0.1:$api_port" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq $((READY_SECS * 10))); do
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$api_port/readyz" 2>/dev/null; then
            ready=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $ready ]] && break
    if kill -0 "$pid" 2>/dev/null; then
        echo "postman.sh: Varco did not become ready within ${READY_SECS}s; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    wait "$pid" 2>/dev/null || true
    pid=
    echo "postman.sh: Varco exited during startup (attempt $attempt); its log:" >&2
    cat "$log" >&2
done
[[ -n $ready ]] || { echo "postman.sh: Varco did not start" >&2; exit 1; }
echo "postman.sh: Varco ready (nodo 127.0.0.1:$nodo_port, api 127.0.0.1:$api_port, store $data/store)"

# --- the collection -------------------------------------------------------------------------
status=0
"$newman" run docs/postman/varco.postman_collection.json \
    -e docs/postman/varco.postman_environment.json \
    --env-var "nodoUrl=http://127.0.0.1:$nodo_port" \
    --env-var "apiUrl=http://127.0.0.1:$api_port" \
    --bail --reporters cli --reporter-cli-no-banner --timeout-request 30000 \
    "$@" || status=$?
if [[ $status -ne 0 ]]; then
    echo "postman.sh: newman failed ($status); the last lines of Varco's log:" >&2
    tail -n 40 "$log" >&2
fi
exit "$status"
