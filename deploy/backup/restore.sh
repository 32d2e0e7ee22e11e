#!/bin/sh
# Restores a dump from /backups over the database, in one transaction: all of it or nothing.
# Run through `make restore BACKUP=<name>`, which stops the app services first.
set -eu

name=${1:?usage: restore.sh <file in /backups>}
file="/backups/$(basename "$name")"
[ -f "$file" ] || { echo "restore: no backup named $name; make backups lists them" >&2; exit 1; }
pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction \
  --dbname="$PGDATABASE" "$file"
echo "restore: $PGDATABASE restored from $file"
