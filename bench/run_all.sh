#!/usr/bin/env bash
# Every benchmark, one after the other, each printing its figures and the command that made them.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/test}"
export DATABASE_URL VAR_DIR="${VAR_DIR:-/tmp/wh-bench-var}"
echo "== DATABASE_URL=$DATABASE_URL bench/bench_connections.sh"
bench/bench_connections.sh
echo
for script in bench/bench_*.py; do
    echo "== DATABASE_URL=$DATABASE_URL .venv/bin/python $script"
    .venv/bin/python "$script"
    echo
done
