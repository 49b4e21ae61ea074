#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of shared (RDB) study storage.
#
#   scripts/postgres-test-server.sh start DIR PORT   # prints postgresql://nasblocks@127.0.0.1:PORT/nasblocks
#   scripts/postgres-test-server.sh restart DIR [DOWN]   # data kept, connections dropped; down DOWN s
#   scripts/postgres-test-server.sh stop DIR
#
# The cluster lives in DIR, listens on 127.0.0.1:PORT only, trusts local connections and is
# deleted by `stop`. PostgreSQL refuses to run as root, so as root it runs as the postgres user.
# Debian's server binaries live outside PATH (/usr/lib/postgresql/<version>/bin); they are found
# there, or through PG_BIN.
set -euo pipefail

action=${1:?usage: $0 start DIR PORT | restart DIR [DOWN] | stop DIR}
dir=${2:?usage: $0 start DIR PORT | restart DIR [DOWN] | stop DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [[ -z "$bin" || ! -x "$bin/pg_ctl" ]]; then
    bin=$(dirname "$(command -v pg_ctl || true)")
fi
if [[ ! -x "$bin/pg_ctl" ]]; then
    echo "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)" >&2
    exit 1
fi

as_owner() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
start)
    port=${3:?usage: $0 start DIR PORT}
    mkdir -p "$dir"
    [[ $(id -u) == 0 ]] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U nasblocks --auth=trust -E UTF8 >"$dir/initdb.log"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\n" \
        "$port" "$dir" >>"$dir/data/postgresql.conf"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U nasblocks nasblocks
    echo "postgresql://nasblocks@127.0.0.1:$port/nasblocks"
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    sleep "${3:-0}"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR PORT | restart DIR [DOWN] | stop DIR" >&2
    exit 2
    ;;
esac
