#!/usr/bin/env bash
# What tests/nodes.rs does to PostgreSQL servers, as the servers' user (`postgres` when the tests
# run as root): only under tests/pg.sh, which sets VARCO_TEST_PG_BIN and VARCO_TEST_PG_DATA.
#   stop | start     the suite's cluster (fast shutdown; start again with its own settings)
#   pair             a new primary with a streaming replica (pg_basebackup -R), synchronous
#                    (a commit waits for the replica's flush); prints the directory that holds
#                    both sockets: primary on port 5433, replica on 5434
#   halt DIR         the pair's primary stopped at once (as a crash: no shutdown checkpoint)
#   promote DIR      the pair's replica promoted to primary
#   drop DIR         both stopped and removed
set -euo pipefail
bin=$VARCO_TEST_PG_BIN
as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
ctl() { as_server "$bin/pg_ctl" "$@" >/dev/null; }
case "$1" in
  stop) ctl -D "$VARCO_TEST_PG_DATA" -m fast -w stop ;;
  start) ctl -D "$VARCO_TEST_PG_DATA" -l "$VARCO_TEST_PG_DATA/../server.log" -w -t 60 start ;;
  pair)
    dir=$(mktemp -d /tmp/varco-pair.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_server "$bin/initdb" -D "$dir/p" -U varco --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    printf "unix_socket_directories = '%s'\nlisten_addresses = ''\nport = 5433\nfsync = off\n" "$dir" >> "$dir/p/postgresql.conf"
    ctl -D "$dir/p" -l "$dir/p.log" -w -t 60 start
    as_server "$bin/pg_basebackup" -D "$dir/r" -R -h "$dir" -p 5433 -U varco -X stream
    printf "port = 5434\n" >> "$dir/r/postgresql.auto.conf"
    ctl -D "$dir/r" -l "$dir/r.log" -w -t 60 start
    for _ in $(seq 100); do
      n=$("$bin/psql" -Atq -h "$dir" -p 5433 -U varco -d postgres -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
      [ "$n" = 1 ] && break
      sleep 0.1
    done
    "$bin/psql" -Atq -h "$dir" -p 5433 -U varco -d postgres \
      -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
    echo "$dir"
    ;;
  halt) ctl -D "$2/p" -m immediate stop ;;
  promote) ctl -D "$2/r" -w promote ;;
  drop)
    for d in p r; do as_server "$bin/pg_ctl" -D "$2/$d" -m immediate stop >/dev/null 2>&1 || true; done
    rm -rf "$2"
    ;;
  *) echo "usage: tests/pg-ctl.sh stop|start|pair|halt DIR|promote DIR|drop DIR" >&2; exit 2 ;;
esac
