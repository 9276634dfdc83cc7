#!/usr/bin/env bash
# `make test`: the whole suite as two pytest runs side by side (README, "The two commands").
#
#   servers: the tests that start real processes or a browser (markers e2e, multinode, replica,
#            celery_worker, docs_snippets, outage, upgrade) — they spend most of their time waiting for those processes;
#   rest:    everything else, mostly CPU in this process and PostgreSQL.
#
# Each run has a test database, a Redis database and a VAR_DIR of its own, so that neither sees
# what the other writes (a cache cleared by one test, a label file, a broker queue). The rest's
# output streams as it runs; the servers' output follows it. The exit status is non-zero if
# either run failed. Extra pytest arguments: PYTEST_ARGS (both runs); a `--junitxml=PATH`
# among them becomes PATH with `-servers` / `-rest` before its extension.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
SERVERS="e2e or multinode or replica or celery_worker or docs_snippets or outage or upgrade"
read -r -a extra <<<"${PYTEST_ARGS:-}"

base_var="${VAR_DIR:-$PWD/var/tests}"
database="${DATABASE_URL:-}"
redis="${REDIS_URL:-}"

args_for() {  # $1: the run's name → the extra arguments with its own junit file
    local name="$1" arg
    for arg in "${extra[@]+"${extra[@]}"}"; do
        if [[ "$arg" == --junitxml=* ]]; then
            local path="${arg#--junitxml=}"
            arg="--junitxml=${path%.*}-$name.${path##*.}"
        fi
        printf '%s\n' "$arg"
    done
}

# What each run is given: the same as `make test` was, but for the servers' run the database
# name + "_servers" (PostgreSQL; SQLite test databases live in memory) and the next Redis
# database number. Unset variables stay unset (the embedded defaults).
rest_env=(VAR_DIR="$base_var/rest")
servers_env=(VAR_DIR="$base_var/servers")
if [ -n "$database" ]; then
    rest_env+=(DATABASE_URL="$database")
    if [[ "$database" == postgres* ]]; then
        servers_env+=(DATABASE_URL="${database%/*}/${database##*/}_servers")
    else
        servers_env+=(DATABASE_URL="$database")
    fi
fi
if [ -n "$redis" ]; then
    redis_db="${redis##*/}"
    [[ "$redis_db" =~ ^[0-9]+$ ]] || redis_db=0
    rest_env+=(REDIS_URL="$redis")
    servers_env+=(REDIS_URL="${redis%/*}/$(((redis_db + 1) % 16))")
fi

mkdir -p "$base_var/servers" "$base_var/rest" artifacts
servers_log="$(mktemp /tmp/wh-test-servers.XXXXXX.log)"

mapfile -t servers_args < <(args_for servers)
env "${servers_env[@]}" "$PY" -m pytest -m "$SERVERS" "${servers_args[@]+"${servers_args[@]}"}" >"$servers_log" 2>&1 &
servers_pid=$!
trap 'kill "$servers_pid" 2>/dev/null' INT TERM

mapfile -t rest_args < <(args_for rest)
echo "== tests without servers (the servers' run goes on beside it: $servers_log)"
# The rest runs at a lower CPU priority: the servers' tests wait on clocks (a rest that ends, a
# worker that must stop within 10 s) and should not wait for the CPU as well.
env "${rest_env[@]}" nice -n 10 "$PY" -m pytest -m "not ($SERVERS)" "${rest_args[@]+"${rest_args[@]}"}"
rest_status=$?

wait "$servers_pid"
servers_status=$?
echo
echo "== tests with servers and browsers ($SERVERS)"
cat "$servers_log"
rm -f "$servers_log"
echo
echo "== make test: without servers exit $rest_status, with servers exit $servers_status"
# 5 is pytest's "no test collected": a selection (-k) that only the other run matches.
ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }
ok "$rest_status" && ok "$servers_status" && ! { [ "$rest_status" -eq 5 ] && [ "$servers_status" -eq 5 ]; }
