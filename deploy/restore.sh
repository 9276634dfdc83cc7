#!/bin/bash
# deploy/restore.sh BACKUP: puts a backup of deploy/backup.sh back — the database into an empty
# database, the evidence photos into ATTACHMENT_ROOT (with ATTACHMENT_STORAGE=s3: into the bucket,
# by `manage.py attachment_files import`) and the label sheets into MEDIA_ROOT.
# Stop the services first and give it an empty database (docs/deploy.md, "Backup and restore"):
#   systemctl stop warehouse.target
#   runuser -u postgres -- dropdb warehouse
#   runuser -u postgres -- createdb --owner warehouse --encoding UTF8 warehouse
#   runuser -u warehouse -- /opt/warehouse/deploy/restore.sh /var/lib/warehouse-backup/warehouse-….tar.gpg
# Same environment as backup.sh (DATABASE_URL, VAR_DIR, ATTACHMENT_ROOT, MEDIA_ROOT,
# ATTACHMENT_STORAGE and ATTACHMENT_S3_*, BACKUP_KEY_FILE, WAREHOUSE_VENV). Files already present
# (on disk or in the bucket) are kept; those of the backup are added (a photo's name is unique
# and a photo is never changed).
set -euo pipefail
umask 027

fail() { echo "restore.sh: $*" >&2; exit 1; }
APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 1 ] || fail "usage: restore.sh BACKUP-FILE (a warehouse-….tar.gpg written by backup.sh)"
archive="$(realpath -- "$1" 2>/dev/null)" || fail "no such file: $1"
[ -f "$archive" ] && [ -r "$archive" ] || fail "$archive is not a readable file"

ENV_FILE="${WAREHOUSE_ENV:-/etc/warehouse/warehouse.env}"
if [ -z "${DATABASE_URL:-}" ]; then
    [ -r "$ENV_FILE" ] || fail "DATABASE_URL is not set and $ENV_FILE cannot be read"
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
fi
VAR_DIR="${VAR_DIR:-/var/lib/warehouse}"
ATTACHMENT_ROOT="${ATTACHMENT_ROOT:-$VAR_DIR/attachments}"
MEDIA_ROOT="${MEDIA_ROOT:-$VAR_DIR/media}"
BACKUP_KEY_FILE="${BACKUP_KEY_FILE:-/etc/warehouse/backup.key}"
[ -r "$BACKUP_KEY_FILE" ] || fail "the key file $BACKUP_KEY_FILE cannot be read"

tables=$(psql --no-password --tuples-only --no-align --dbname="$DATABASE_URL" \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") ||
    fail "cannot reach the database of DATABASE_URL"
[ "$tables" = "0" ] ||
    fail "the database already has $tables tables: restore into an empty database (dropdb, createdb; docs/deploy.md)"

work="$(mktemp -d "${TMPDIR:-/tmp}/warehouse-restore.XXXXXX")"
cleanup() {
    gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true
    rm -rf -- "$work"
}
trap cleanup EXIT
mkdir -m 700 "$work/gnupg" "$work/archive"

gpg --homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-file "$BACKUP_KEY_FILE" \
    --decrypt "$archive" | tar -C "$work/archive" -xf - ||
    fail "$archive cannot be decrypted with $BACKUP_KEY_FILE, or is damaged"
[ -f "$work/archive/database.dump" ] || fail "$archive has no database.dump"

# All or nothing for the database; tables owned by the role of DATABASE_URL.
pg_restore --no-password --exit-on-error --single-transaction --no-owner --no-privileges \
    --dbname="$DATABASE_URL" "$work/archive/database.dump"

if [ "${ATTACHMENT_STORAGE:-filesystem}" = "s3" ]; then
    (cd "$APP_DIR" && "${WAREHOUSE_VENV:-$APP_DIR/.venv}/bin/python" manage.py attachment_files import \
        "$work/archive/attachments") || fail "the photos could not be put back into the bucket ${ATTACHMENT_S3_BUCKET:-}"
else
    mkdir -p "$ATTACHMENT_ROOT"
    cp -R --preserve=timestamps -- "$work/archive/attachments/." "$ATTACHMENT_ROOT/"
fi
mkdir -p "$MEDIA_ROOT"
cp -R --preserve=timestamps -- "$work/archive/media/." "$MEDIA_ROOT/"

echo "restore.sh: restored $(basename "$archive"):"
sed 's/^/  /' "$work/archive/MANIFEST"
echo "restore.sh: next, deploy/manage.sh migrate (if the code is newer than the backup), then start the services"
