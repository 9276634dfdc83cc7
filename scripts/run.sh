#!/usr/bin/env bash
# Runs the whole system on one machine: migrate, demo data, web server, Celery worker and beat,
# and the outbox relay. Ctrl-C (or SIGTERM) stops them all. Settings come from the environment (docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Exported: without PUBLIC_BASE_URL, the settings of the web server and of the worker (which
# draws label sheets) make QR codes point at this HOST and PORT.
export PORT="${PORT:-8000}"
export HOST="${HOST:-127.0.0.1}"

$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput -v0
$PY manage.py seed_demo --password "${DEMO_PASSWORD:-demo12345}"

# Request counters of all gunicorn workers add up in /metrics (prometheus_client multiprocess
# mode); the directory must start empty.
METRICS_DIR="${PROMETHEUS_MULTIPROC_DIR:-${VAR_DIR:-var}/prometheus}"
rm -rf "$METRICS_DIR" && mkdir -p "$METRICS_DIR"

pids=()
stop() {
    trap - INT TERM EXIT
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

# REMAP_SIGTERM=SIGQUIT: on SIGTERM the worker gives running tasks WORKER_SOFT_SHUTDOWN_SECONDS,
# then stops and hands them back to the queue (acks_late), instead of waiting for each to end.
REMAP_SIGTERM=SIGQUIT .venv/bin/celery -A config worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" \
    -n "worker-$$@%h" &
pids+=($!)
$PY manage.py outbox_relay &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --schedule "${VAR_DIR:-var}/celerybeat-schedule" &
pids+=($!)
PROMETHEUS_MULTIPROC_DIR="$METRICS_DIR" .venv/bin/gunicorn config.wsgi:application -c config/gunicorn.py --bind "$HOST:$PORT" --workers "${WEB_WORKERS:-2}" \
    --access-logfile - --access-logformat '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss' --graceful-timeout 5 &
pids+=($!)
echo "running on http://$HOST:$PORT/ (demo users: see README.md; password ${DEMO_PASSWORD:+from DEMO_PASSWORD}${DEMO_PASSWORD:-demo12345})"
wait -n "${pids[@]}"
