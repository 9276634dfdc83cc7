#!/bin/sh
# Runs `manage.py` as the warehouse user with the production environment, e.g. as root:
#   /opt/warehouse/deploy/manage.sh migrate
#   /opt/warehouse/deploy/manage.sh changepassword USERNAME
#   deploy/manage.sh import_orgs orgs.csv        (a path relative to where you are is fine)
# A file named in the arguments must be readable by the warehouse user: the command says so
# before it starts when it is not.
# WAREHOUSE_ENV names another environment file (default /etc/warehouse/warehouse.env),
# WAREHOUSE_USER another service user (default warehouse), WAREHOUSE_VENV another virtualenv
# (default the checkout's .venv).
set -eu
ENV_FILE="${WAREHOUSE_ENV:-/etc/warehouse/warehouse.env}"
RUN_AS="${WAREHOUSE_USER:-warehouse}"
APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${WAREHOUSE_VENV:-$APP_DIR/.venv}"

say() { echo "deploy/manage.sh: $*" >&2; }

as_user() {
    if [ "$(id -un)" = "$RUN_AS" ]; then
        "$@"
    elif [ "$(id -u)" = 0 ]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        sudo -u "$RUN_AS" -- "$@"
    fi
}

id "$RUN_AS" >/dev/null 2>&1 || { say "there is no user $RUN_AS (docs/deploy.md, \"One machine\")"; exit 2; }
as_user test -r "$ENV_FILE" || { say "user $RUN_AS cannot read $ENV_FILE (owner root, group $RUN_AS, mode 640)"; exit 2; }

# manage.py runs in the directory you are in when the service user may enter it (else in the
# checkout): a relative path to an existing file is made absolute first, and a file the service
# user cannot read stops here with a clear message.
HERE="$(pwd)"
as_user test -x "$HERE" || HERE="$APP_DIR"
first=1
for arg do
    shift
    if [ "$first" = 0 ] && [ "${arg#-}" = "$arg" ] && [ -e "$arg" ]; then
        case "$arg" in
            /*) ;;
            *) arg="$(pwd)/$arg" ;;
        esac
        if ! as_user test -r "$arg"; then
            say "user $RUN_AS cannot read $arg; give it a copy it can read, e.g."
            say "  install -m 644 $arg /tmp/ (and name /tmp/$(basename "$arg") instead)"
            exit 2
        fi
    fi
    first=0
    set -- "$@" "$arg"
done

as_user sh -c 'set -a; . "$0"; set +a; cd "$1"; python="$2"; manage="$3"; shift 3; exec "$python" "$manage" "$@"' \
    "$ENV_FILE" "$HERE" "$VENV/bin/python" "$APP_DIR/manage.py" "$@"
