#!/bin/sh
# Replaces the database's public schema with a dump from /backups, in one transaction: all of it
# or nothing. Tables made after the dump (a later migration) go too. Run through
# `make restore BACKUP=<name>`, which stops the app services first.
set -eu

name=${1:?usage: restore.sh <file in /backups>}
file="/backups/$(basename "$name")"
[ -f "$file" ] || { echo "restore: no backup named $name; make backups lists them" >&2; exit 1; }
# The dump as SQL first: psql then runs all of it or, on any error, none of it.
sql=$(mktemp)
trap 'rm -f "$sql"' EXIT
pg_restore --no-owner --file="$sql" "$file"
psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1 --single-transaction --dbname="$PGDATABASE" \
  --command="DROP SCHEMA public CASCADE; CREATE SCHEMA public;" --file="$sql" >/dev/null
echo "restore: $PGDATABASE restored from $file"
