#!/usr/bin/env bash
# The throwaway PostgreSQL cluster of `make test`: `tests/pg.sh run CMD...` creates a cluster in a
# temporary directory (initdb), starts it on a Unix socket only (no TCP port), runs CMD with
# VARCO_TEST_PG set to its maintenance database, then stops the cluster and removes it, whatever
# CMD's outcome. PostgreSQL refuses to run as root: as root, the server runs as the `postgres`
# user of Debian's package (created when missing). PostgreSQL is installed from Debian's packages
# when no server binaries are found.
set -euo pipefail

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "installing PostgreSQL (postgresql from Debian's packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null 2>&1 ||
    { sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null
  bin=$(find_bin)
fi

as_server() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$server_user" -- "$@"
  else
    "$@"
  fi
}

server_user=postgres
if [ "$(id -u)" = 0 ] && ! id "$server_user" >/dev/null 2>&1; then
  useradd --system --no-create-home "$server_user"
fi

dir=$(mktemp -d /tmp/varco-pg.XXXXXX)
stop() {
  as_server "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

[ "$(id -u)" = 0 ] && chown "$server_user" "$dir"
as_server "$bin/initdb" -D "$dir/data" -U varco --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: the tests check what Varco commits and acknowledges, not the disk under the server.
# VARCO_PG_DURABLE=1 (the benchmarks) keeps PostgreSQL's defaults: fsync and full_page_writes on.
# VARCO_PG_OPTS: more server options (`-c name=value ...`). The settings go into the cluster's
# own file, so tests/pg-ctl.sh can stop and start it again as it was.
durability="fsync = off\nfull_page_writes = off"
[ "${VARCO_PG_DURABLE:-0}" = 1 ] && durability="fsync = on\nfull_page_writes = on"
printf "unix_socket_directories = '%s'\nlisten_addresses = ''\nmax_connections = 400\n$durability\n" "$dir" \
  >> "$dir/data/postgresql.conf"
as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "${VARCO_PG_OPTS:-}" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }

case "${1:-}" in
  run)
    shift
    VARCO_TEST_PG="host=$dir user=varco dbname=postgres" VARCO_TEST_PG_DATA="$dir/data" \
      VARCO_TEST_PG_BIN="$bin" VARCO_TEST_PG_CTL="$(cd "$(dirname "$0")" && pwd)/pg-ctl.sh" "$@"
    ;;
  *)
    echo "usage: tests/pg.sh run CMD..." >&2
    exit 2
    ;;
esac
