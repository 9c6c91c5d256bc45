#!/usr/bin/env bash
# make bench-engines: bench/run.sh on sled, then on PostgreSQL (a throwaway cluster with fsync
# on, tests/pg.sh) in front of one node, one node behind the reference nginx file and two nodes
# behind it, each with BENCH_PRELOAD positions; one summary of both.
# Usage: bench/engines.sh [SECONDS] [CONNECTIONS...]   (environment as bench/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p target/bench
export BENCH_RECEIPTS=${BENCH_RECEIPTS:-50000}
BENCH_OUT=target/bench/engines-$stamp-sled.jsonl BENCH_ENGINE=sled BENCH_FRONTS=direct \
  ./bench/run.sh "$@"
BENCH_OUT=target/bench/engines-$stamp-postgres.jsonl BENCH_ENGINE=postgres \
  BENCH_FRONTS=${BENCH_PG_FRONTS:-direct nginx1 nginx2} BENCH_NOTICES=0 BENCH_DISTURB=0 \
  ./bench/run.sh "$@"
cat target/bench/engines-$stamp-sled.jsonl target/bench/engines-$stamp-postgres.jsonl \
  > target/bench/engines-$stamp.jsonl
echo "== both engines"
python3 bench/summary.py target/bench/engines-$stamp.jsonl
echo "summary: target/bench/engines-$stamp.jsonl"
