#!/bin/sh
# Runs `manage.py` as the warehouse user with the production environment, e.g.
#   sudo /opt/warehouse/deploy/manage.sh migrate
#   sudo /opt/warehouse/deploy/manage.sh createsuperuser
# WAREHOUSE_ENV names another environment file (default /etc/warehouse/warehouse.env).
set -eu
ENV_FILE="${WAREHOUSE_ENV:-/etc/warehouse/warehouse.env}"
APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
exec sudo -u warehouse -- sh -c 'set -a; . "$0"; set +a; cd "$1"; shift; exec .venv/bin/python manage.py "$@"' \
    "$ENV_FILE" "$APP_DIR" "$@"
