#!/usr/bin/env bash
# The web benchmark (docs/performance.md, "The hot paths under load"): the scanner's, the merchant's and the
# public's endpoints served by gunicorn (sync workers, PostgreSQL, persistent connections, Redis
# cache) beside a reference endpoint in the same run: a DRF view that answers one indexed row by
# primary key with the project's DRF defaults (token authentication). Prints req/s, p50 and p99
# of each and its ratio to the reference, and the time of releasing 1,000 scanned codes.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 bench/bench_web.sh
#
# Uses its own database `bench_web` on that server (dropped at the end), the Redis database of
# REDIS_URL (its keys are only added to: page cache and throttle keys), a throw-away VAR_DIR.
# Data: the demo world and 13 more coded batches (20 batches, 2,996 codes) for the reads; then,
# for the writes, 5 batches of 1,020 codes (1,000 released per request) and 40,000 released codes
# to sell 10 at a time (and 10,000 more for the sale's warm-up). Knobs: BENCH_PORT (18630), BENCH_WORKERS (5 gunicorn sync workers),
# BENCH_THREADS (2 wrk threads), BENCH_CONNECTIONS (32), BENCH_SECONDS (15 per endpoint),
# BENCH_SALE_SECONDS (8), BENCH_RELEASE_ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
command -v wrk >/dev/null || { echo "wrk is missing: make system-bench (Debian package wrk)"; exit 1; }
PY=.venv/bin/python
PORT="${BENCH_PORT:-18630}"
WORKERS="${BENCH_WORKERS:-5}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
SECONDS_EACH="${BENCH_SECONDS:-15}"
SALE_SECONDS="${BENCH_SALE_SECONDS:-8}"
export BENCH_RELEASE_ROUNDS="${BENCH_RELEASE_ROUNDS:-5}"
export BENCH_SALE_CODES="${BENCH_SALE_CODES:-40000}"

export DATABASE_URL="${DATABASE_URL%/*}/${BENCH_DATABASE:-bench_web}" REDIS_URL
export DJANGO_SETTINGS_MODULE=bench.settings
export VAR_DIR; VAR_DIR="$(mktemp -d /tmp/wh-bench-web.XXXXXX)"
export DEBUG=0
unset PUBLIC_BASE_URL PRODUCTION DB_CONN_MAX_AGE
OUT="$VAR_DIR/out"; mkdir -p "$OUT"

gunicorn_pid=""
cleanup() {
    [ -n "$gunicorn_pid" ] && kill "$gunicorn_pid" 2>/dev/null && wait "$gunicorn_pid" 2>/dev/null
    $PY bench/_web_setup.py drop || true
    rm -rf "$VAR_DIR"
}
trap cleanup EXIT

echo "setting up: database ${DATABASE_URL##*/}, demo world and coded batches"
$PY bench/_web_setup.py create "$OUT" >/dev/null 2>&1 || $PY bench/_web_setup.py create "$OUT"
value() { tr -d '\n' <"$OUT/$1"; }
OPERATOR="Authorization: Token $(value token-operator-1)"
MERCHANT="Authorization: Token $(value token-merchant-a1)"
BASE="http://127.0.0.1:$PORT"

.venv/bin/gunicorn config.wsgi:application -c config/gunicorn.py --bind "127.0.0.1:$PORT" \
    --workers "$WORKERS" --log-level warning >"$VAR_DIR/gunicorn.log" 2>&1 &
gunicorn_pid=$!
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
    sleep 0.2
done
curl -fsS -o /dev/null "$BASE/healthz" || { echo "gunicorn did not start:"; cat "$VAR_DIR/gunicorn.log"; exit 1; }

# "name|url|header": every row measured the same way; wrk's output kept per row.
ROWS=(
    "reference: DRF, one row by primary key|/bench/reference/$(value market-pk)/|$OPERATOR"
    "GET /api/scan/?value=<token> (operator)|/api/scan/?value=$(value scan-token)|$OPERATOR"
    "GET /api/batches/<number>/ (operator)|/api/batches/$(value batch-number)/|$OPERATOR"
    "GET /c/<token> (public page)|/c/$(value public-token)|Accept-Language: zh-hans"
)

to_ms() {  # wrk's "12.34ms" / "1.20s" / "850.00us" → milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.1f", n }'
}

run_wrk() {  # $1: name, $2: file tag, rest: wrk arguments
    local name="$1" tag="$2"; shift 2
    # warm-up (a sale's takes codes of its own: every code is sold once)
    SALE_TOKENS="${WARM_TOKENS:-${SALE_TOKENS:-}}" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" >/dev/null
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s --latency "$@" >"$VAR_DIR/wrk-$tag.txt"
    if grep -qE "Non-2xx|Socket errors" "$VAR_DIR/wrk-$tag.txt"; then
        echo "errors during $name:"; grep -E "Non-2xx|Socket errors" "$VAR_DIR/wrk-$tag.txt"
    fi
    local rps p50 p99
    rps="$(awk '/Requests\/sec/ {print $2}' "$VAR_DIR/wrk-$tag.txt")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$VAR_DIR/wrk-$tag.txt")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$VAR_DIR/wrk-$tag.txt")")"
    echo "$name|$rps|$p50|$p99" >>"$VAR_DIR/table"
}

for i in "${!ROWS[@]}"; do
    IFS='|' read -r name path header <<<"${ROWS[$i]}"
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "$header" "$BASE$path")"
    [ "$status" = 200 ] || { echo "$name answered $status"; exit 1; }
    run_wrk "$name" "$i" -H "$header" "$BASE$path"
done
# The scan's own service time: the same request from 4 clients instead of 32 (at 32 clients
# and a closed loop, each answer waits for the ~31 requests ahead of it: p50 ≈ 32 / req/s).
IFS='|' read -r _name scan_path _header <<<"${ROWS[1]}"
CONNECTIONS=4 run_wrk "GET /api/scan/?value=<token>, 4 clients" scan4 -H "$OPERATOR" "$BASE$scan_path"
# A phone that has the page already asks again with its ETag: 304, no body.
etag="$(curl -s -D - -o /dev/null "$BASE/c/$(value public-token)" | awk -F': ' 'tolower($1) == "etag" {print $2}' | tr -d '\r')"
if [ -n "$etag" ]; then
    run_wrk "GET /c/<token>, If-None-Match (304)" etag -H "If-None-Match: $etag" "$BASE/c/$(value public-token)"
fi

echo "setting up the writes: 1,000 codes per release request, $BENCH_SALE_CODES released codes to sell"
$PY bench/_web_setup.py writes "$OUT" >/dev/null 2>&1 || $PY bench/_web_setup.py writes "$OUT"
SALE_TOKENS="$OUT/sale-tokens" WARM_TOKENS="$OUT/sale-tokens-warm" WRK_THREADS="$THREADS" SECONDS_EACH="$SALE_SECONDS" \
    run_wrk "POST /api/sales/, 10 codes (merchant)" sale -s bench/wrk_sale.lua -H "$MERCHANT" "$BASE/api/sales/"

release_times=()
i=0
for number in $(value release-numbers); do
    t="$(curl -s -o "$VAR_DIR/release-$i.out" -w '%{http_code} %{time_total}' -X POST -H "$OPERATOR" \
        -H 'Content-Type: application/json' --data-binary "@$OUT/release-$i.json" "$BASE/api/batches/$number/release/")"
    [ "${t%% *}" = 200 ] || { echo "release answered ${t%% *}:"; head -c 500 "$VAR_DIR/release-$i.out"; exit 1; }
    release_times+=("$(awk -v s="${t#* }" 'BEGIN { printf "%.0f", s * 1000 }')")
    i=$((i + 1))
done

echo
echo "gunicorn --workers $WORKERS (sync) on PostgreSQL, persistent connections, Redis cache;"
echo "$(value batches) batches and $(value codes) codes for the reads; wrk -t$THREADS -c$CONNECTIONS --timeout 10s --latency, ${SECONDS_EACH}s per endpoint (the sale ${SALE_SECONDS}s) after 2s of warm-up"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo
ref="$(head -n 1 "$VAR_DIR/table" | cut -d'|' -f2)"
printf '| %-42s | %9s | %8s | %8s | %8s |\n' "endpoint" "req/s" "p50 ms" "p99 ms" "ratio"
printf '|%s|%s|%s|%s|%s|\n' "--------------------------------------------" "-----------:" "---------:" "---------:" "---------:"
while IFS='|' read -r name rps p50 p99; do
    printf '| %-42s | %9s | %8s | %8s | %8s |\n' "$name" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')"
done <"$VAR_DIR/table"
sorted="$(printf '%s\n' "${release_times[@]}" | sort -n | tr '\n' ' ')"
echo
echo "POST /api/batches/<number>/release/ with 1,000 scanned codes, one after another: ${sorted}ms (sorted; median $(printf '%s\n' "${release_times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms)"
