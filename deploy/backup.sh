#!/bin/bash
# deploy/backup.sh: one encrypted backup of everything the warehouse cannot rebuild, in one file:
#   database.dump   PostgreSQL (pg_dump, custom format) — batches, events, codes, sales, people
#   attachments/    the evidence photos (ATTACHMENT_ROOT, default VAR_DIR/attachments; with
#                   ATTACHMENT_STORAGE=s3 every object of the bucket, copied by
#                   `manage.py attachment_files export`)
#   media/          the label sheets (MEDIA_ROOT, default VAR_DIR/media)
# The database is dumped first and the files copied after it: a photo is written before its row,
# and nothing deletes one, so every photo the dump names is in the copy.
#
# Run by warehouse-backup.timer (deploy/systemd) as the warehouse user; by hand:
#   runuser -u warehouse -- /opt/warehouse/deploy/backup.sh
# Restore: deploy/restore.sh. docs/deploy.md, "Backup and restore".
#
# Environment (from /etc/warehouse/warehouse.env, or WAREHOUSE_ENV, when DATABASE_URL is unset):
#   DATABASE_URL, VAR_DIR, ATTACHMENT_ROOT, MEDIA_ROOT, ATTACHMENT_STORAGE   as for the app
#                    (with ATTACHMENT_STORAGE=s3 also ATTACHMENT_S3_* and AWS_*: the app reads the bucket)
#   WAREHOUSE_VENV   the virtualenv whose python runs manage.py (default the checkout's .venv)
#   BACKUP_DIR       where the backups are kept (default /var/lib/warehouse-backup)
#   BACKUP_KEY_FILE  the passphrase file (default /etc/warehouse/backup.key); the backups hold
#                    buyers' names and phone numbers, so they are encrypted (gpg, AES-256)
#   BACKUP_KEEP      how many backups to keep here (default 14); older ones are deleted
#   BACKUP_OFFSITE   optional rsync target for a copy of each new backup, e.g.
#                    backup@vault.internal:/srv/warehouse/ (ssh) or a mounted directory
# Exit status 0 only when the backup is written, readable with the key, and copied off-site
# (if asked); any other status starts warehouse-backup-failed.service (the alert).
set -euo pipefail
umask 077

ENV_FILE="${WAREHOUSE_ENV:-/etc/warehouse/warehouse.env}"
if [ -z "${DATABASE_URL:-}" ]; then
    if [ ! -r "$ENV_FILE" ]; then
        echo "backup.sh: DATABASE_URL is not set and $ENV_FILE cannot be read" >&2
        exit 2
    fi
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
fi

VAR_DIR="${VAR_DIR:-/var/lib/warehouse}"
ATTACHMENT_ROOT="${ATTACHMENT_ROOT:-$VAR_DIR/attachments}"
MEDIA_ROOT="${MEDIA_ROOT:-$VAR_DIR/media}"
BACKUP_DIR="${BACKUP_DIR:-/var/lib/warehouse-backup}"
BACKUP_KEY_FILE="${BACKUP_KEY_FILE:-/etc/warehouse/backup.key}"
BACKUP_KEEP="${BACKUP_KEEP:-14}"

APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${WAREHOUSE_VENV:-$APP_DIR/.venv}/bin/python"

fail() { echo "backup.sh: $*" >&2; exit 1; }

case "$DATABASE_URL" in
    postgres://* | postgresql://*) ;;
    *) fail "DATABASE_URL is not a PostgreSQL address; this script backs up PostgreSQL only" ;;
esac
[[ "$BACKUP_KEEP" =~ ^[1-9][0-9]*$ ]] || fail "BACKUP_KEEP must be a whole number of at least 1, not '$BACKUP_KEEP'"
[ -s "$BACKUP_KEY_FILE" ] && [ -r "$BACKUP_KEY_FILE" ] ||
    fail "the key file $BACKUP_KEY_FILE is missing, empty or unreadable (docs/deploy.md, \"Backup and restore\")"
mkdir -p "$BACKUP_DIR"
[ -w "$BACKUP_DIR" ] || fail "$BACKUP_DIR is not writable by $(id -un)"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
name="warehouse-$stamp.tar.gpg"
work="$(mktemp -d "$BACKUP_DIR/.work-$stamp.XXXXXX")"
cleanup() {
    gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true
    rm -rf -- "$work"
    rm -f -- "$BACKUP_DIR/.$name.part"
}
trap cleanup EXIT
mkdir -m 700 "$work/gnupg" "$work/archive"
gpg_() { gpg --homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-file "$BACKUP_KEY_FILE" "$@"; }

# 1. The database, first.
pg_dump --format=custom --no-password --file="$work/archive/database.dump" --dbname="$DATABASE_URL"

# 2. The files, after it. tar follows these links (-h) to the directories themselves.
if [ "${ATTACHMENT_STORAGE:-filesystem}" = "s3" ]; then
    # Every object of the bucket, downloaded by the app itself (its keys, its endpoint).
    (cd "$APP_DIR" && "$PYTHON" manage.py attachment_files export "$work/archive/attachments") >/dev/null ||
        fail "the photos could not be copied from the bucket ${ATTACHMENT_S3_BUCKET:-}"
elif [ -d "$ATTACHMENT_ROOT" ]; then
    ln -s "$(realpath "$ATTACHMENT_ROOT")" "$work/archive/attachments"
else
    mkdir "$work/archive/attachments"  # no photo yet
fi
if [ -d "$MEDIA_ROOT" ]; then
    ln -s "$(realpath "$MEDIA_ROOT")" "$work/archive/media"
else
    mkdir "$work/archive/media"
fi
photos=$(find -L "$work/archive/attachments" -type f | wc -l)
sheets=$(find -L "$work/archive/media" -type f | wc -l)
{
    echo "created $stamp"
    echo "host $(hostname)"
    echo "commit $(git -C "$(dirname "$0")/.." rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "attachment_storage ${ATTACHMENT_STORAGE:-filesystem}"
    echo "attachment_files $photos"
    echo "media_files $sheets"
} >"$work/archive/MANIFEST"

# 3. One encrypted file, renamed into place only when complete.
tar -C "$work/archive" -h -cf - MANIFEST database.dump attachments media |
    gpg_ --symmetric --cipher-algo AES256 --compress-algo none --output "$BACKUP_DIR/.$name.part"
mv -- "$BACKUP_DIR/.$name.part" "$BACKUP_DIR/$name"

# 4. It can be read back with the key (a backup nobody can open is no backup).
gpg_ --decrypt "$BACKUP_DIR/$name" | tar -tf - >"$work/listing"
grep -qx "database.dump" "$work/listing" || fail "$name: the archive has no database.dump"

# 5. A copy off this machine.
if [ -n "${BACKUP_OFFSITE:-}" ]; then
    rsync --times --partial -- "$BACKUP_DIR/$name" "$BACKUP_OFFSITE" || fail "the copy to $BACKUP_OFFSITE failed"
fi

# 6. Keep the newest BACKUP_KEEP here (the names sort by time).
find "$BACKUP_DIR" -maxdepth 1 -name 'warehouse-*.tar.gpg' -printf '%f\n' | sort -r |
    tail -n +"$((BACKUP_KEEP + 1))" | while read -r old; do rm -f -- "${BACKUP_DIR:?}/$old"; done

echo "backup.sh: $BACKUP_DIR/$name: $(du -h "$BACKUP_DIR/$name" | cut -f1), database and $photos photo files," \
    "$sheets label files${BACKUP_OFFSITE:+, copied to $BACKUP_OFFSITE}"
