#!/usr/bin/env bash
# Every benchmark, one after the other, each printing its figures and the command that made them.
# BENCH_SCALE=city (the default: 1 M codes, 300 k sales, 20 warehouses) or province (10 M codes,
# 3 M sales, 200 warehouses: loading takes the better part of an hour on 2 cores) sets the
# size of the trace and dashboard benchmark (bench/bench_trace.py --scale).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/test}"
: "${BENCH_SCALE:=city}"
export DATABASE_URL VAR_DIR="${VAR_DIR:-/tmp/wh-bench-var}"
echo "== DATABASE_URL=$DATABASE_URL bench/bench_web.sh"
bench/bench_web.sh
echo
echo "== DATABASE_URL=$DATABASE_URL bench/bench_connections.sh"
bench/bench_connections.sh
echo
for script in bench/bench_*.py; do
    args=()
    [ "$script" = bench/bench_trace.py ] && args=(--scale "$BENCH_SCALE")
    echo "== DATABASE_URL=$DATABASE_URL .venv/bin/python $script ${args[*]}"
    .venv/bin/python "$script" "${args[@]}"
    echo
done
