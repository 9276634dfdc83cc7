#!/usr/bin/env bash
# Database connections under load (docs/configuration.md, Database connections): the scan endpoint `GET /api/scan/?value=<token>`
# as operator-1, served by gunicorn with several sync workers on PostgreSQL, first opening a
# connection per request (DB_CONN_MAX_AGE=0), then with persistent connections (the default,
# 600 s, with health checks). Same machine, same run, same data; prints both figures.
# The two settings take turns (BENCH_ROUNDS rounds each), so a neighbour's load on a shared
# machine falls on both alike; the figure of each is the sum of its requests over its seconds.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/bench_connections.sh
#
# Uses its own database `bench_connections` on that server (dropped at the end), a throw-away
# VAR_DIR and the filesystem broker. Knobs: BENCH_PORT (18120), BENCH_WORKERS (4 gunicorn
# workers), BENCH_THREADS (2 wrk threads), BENCH_CONNECTIONS (8), BENCH_SECONDS (15 per round),
# BENCH_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "wrk is missing: make system-bench (Debian package wrk)"; exit 1; }
PY=.venv/bin/python
PORT="${BENCH_PORT:-18120}"
WORKERS="${BENCH_WORKERS:-4}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-8}"
SECONDS_EACH="${BENCH_SECONDS:-15}"
ROUNDS="${BENCH_ROUNDS:-3}"

export DATABASE_URL="${DATABASE_URL%/*}/bench_connections"
export VAR_DIR; VAR_DIR="$(mktemp -d /tmp/wh-bench-conn.XXXXXX)"
export BENCH_PASSWORD="bench-$RANDOM-$RANDOM"
export DEBUG=0
unset REDIS_URL PUBLIC_BASE_URL PRODUCTION DB_CONN_MAX_AGE

gunicorn_pid=""
cleanup() {
    [ -n "$gunicorn_pid" ] && kill "$gunicorn_pid" 2>/dev/null && wait "$gunicorn_pid" 2>/dev/null
    $PY bench/_connections_setup.py drop || true
    rm -rf "$VAR_DIR"
}
trap cleanup EXIT

echo "setting up: database bench_connections, demo world and coded batches"
TOKEN_VALUE="$($PY bench/_connections_setup.py create | tail -n 1)"
URL="http://127.0.0.1:$PORT/api/scan/?value=$TOKEN_VALUE"

start_web() {  # $1: DB_CONN_MAX_AGE
    DB_CONN_MAX_AGE="$1" .venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" \
        --workers "$WORKERS" --log-level warning >"$VAR_DIR/gunicorn-$1.log" 2>&1 &
    gunicorn_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "gunicorn did not start:"; cat "$VAR_DIR/gunicorn-$1.log"; exit 1
}

stop_web() {
    kill "$gunicorn_pid"; wait "$gunicorn_pid" 2>/dev/null || true; gunicorn_pid=""
}

measure() {  # $1: DB_CONN_MAX_AGE, $2: round; appends "requests seconds latency" to $VAR_DIR/sum-$1
    start_web "$1"
    if [ ! -s "$VAR_DIR/api-token" ]; then
        curl -fsS -X POST "http://127.0.0.1:$PORT/api/auth/token/" -H 'Content-Type: application/json' \
            -d "{\"username\":\"operator-1\",\"password\":\"$BENCH_PASSWORD\"}" \
            | $PY -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$VAR_DIR/api-token"
    fi
    API_TOKEN="$(cat "$VAR_DIR/api-token")"
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Token $API_TOKEN" "$URL")"
    [ "$status" = 200 ] || { echo "scan answered $status"; exit 1; }
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "Authorization: Token $API_TOKEN" "$URL" >/dev/null  # warm-up
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" -H "Authorization: Token $API_TOKEN" "$URL" \
        >"$VAR_DIR/wrk-$1-$2.txt"
    stop_web
    echo "-- DB_CONN_MAX_AGE=$1, round $2 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    grep -E "Latency|requests in|Requests/sec|Non-2xx|Socket errors" "$VAR_DIR/wrk-$1-$2.txt"
    grep -q "Non-2xx" "$VAR_DIR/wrk-$1-$2.txt" && { echo "errors during the run"; exit 1; }
    awk '/requests in/ {n=$1; s=$4; sub("s,", "", s)} /Latency/ {lat=$2} END {print n, s, lat}' \
        "$VAR_DIR/wrk-$1-$2.txt" >>"$VAR_DIR/sum-$1"
}

for round in $(seq 1 "$ROUNDS"); do
    measure 0 "$round"
    measure 600 "$round"
done

rate() { awk '{n+=$1; s+=$2} END {printf "%.1f", n/s}' "$VAR_DIR/sum-$1"; }
echo
echo "GET /api/scan/?value=<token> as operator-1; gunicorn --workers $WORKERS (sync) on PostgreSQL;"
echo "wrk -t$THREADS -c$CONNECTIONS, $ROUNDS rounds of ${SECONDS_EACH}s each, taking turns"
printf '%-40s %8s req/s\n' "DB_CONN_MAX_AGE=0 (one per request)" "$(rate 0)"
printf '%-40s %8s req/s\n' "DB_CONN_MAX_AGE=600 (persistent)" "$(rate 600)"
