#!/usr/bin/env bash
# Runs one command with the loopback test servers up:
#
#   scripts/with-services.sh make test-all
#
# starts Redis and PostgreSQL (scripts/services.sh start), exports the
# environment it prints (KVIT_REDIS_URL, KVIT_POSTGRES_URL) to the command,
# runs it, stops the servers whatever happened (failure, Ctrl-C), and exits
# with the command's status. KVIT_SERVICES_DIR, KVIT_REDIS_PORT and
# KVIT_POSTGRES_PORT pass through to services.sh, so two people on one
# machine can each run their own servers.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 command [argument...]" >&2
    exit 2
fi
services="$(cd "$(dirname "$0")" && pwd)/services.sh"

stop() { "$services" stop || true; }

if ! environment=$("$services" start); then
    echo "with-services: the services did not start" >&2
    stop
    exit 1
fi
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
eval "$environment"

"$@"
