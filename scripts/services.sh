#!/usr/bin/env bash
# Loopback Redis and PostgreSQL servers for the test suite.
#
#   scripts/services.sh start   installs the servers if absent, starts both on
#                               127.0.0.1 with data in a scratch directory, and
#                               prints the environment the tests read
#   scripts/services.sh stop    stops both and removes the scratch directory
#
# Ports and the scratch directory can be moved with KVIT_REDIS_PORT,
# KVIT_POSTGRES_PORT and KVIT_SERVICES_DIR.
set -euo pipefail

dir=${KVIT_SERVICES_DIR:-/tmp/kvit-test-services}
redis_port=${KVIT_REDIS_PORT:-16379}
pg_port=${KVIT_POSTGRES_PORT:-15432}

log() { printf 'services: %s\n' "$*" >&2; }

pg_bindir() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] || initdb=$(command -v initdb || true)
    [ -n "$initdb" ] && dirname "$initdb"
}

install_missing() {
    local need=()
    command -v redis-server >/dev/null || need+=(redis-server)
    pg_bindir >/dev/null || need+=(postgresql)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        # The packages start system-wide servers of their own; the tests do
        # not use them.
        $sudo service redis-server stop >/dev/null 2>&1 || true
        $sudo service postgresql stop >/dev/null 2>&1 || true
    fi
}

# Runs a PostgreSQL tool as an unprivileged user: the server refuses root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    install_missing
    stop_quietly
    mkdir -p "$dir"
    chmod 755 "$dir"

    redis-server --port "$redis_port" --bind 127.0.0.1 --protected-mode yes \
        --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --save "" --appendonly yes --appendfsync always
    for _ in $(seq 50); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$redis_port" ping >/dev/null

    local bin
    bin=$(pg_bindir)
    mkdir -p "$dir/pg"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"
    as_pg "$bin/initdb" -D "$dir/pg" -A trust -U postgres >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w \
        -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null

    log "redis on 127.0.0.1:$redis_port, postgres on 127.0.0.1:$pg_port"
    echo "export KVIT_REDIS_URL=redis://127.0.0.1:$redis_port"
    echo "export KVIT_POSTGRES_URL=postgres://postgres@127.0.0.1:$pg_port/postgres"
}

stop_quietly() {
    if [ -f "$dir/redis.pid" ]; then
        redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    fi
    if [ -f "$dir/pg/postmaster.pid" ]; then
        as_pg "$(pg_bindir)/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop_quietly; log "stopped" ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
