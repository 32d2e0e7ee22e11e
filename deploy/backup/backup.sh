#!/bin/sh
# The `backup` service of docker-compose.prod.yml: a pg_dump of the database into /backups at
# start and every BACKUP_INTERVAL_SECONDS, keeping the newest BACKUP_KEEP dumps. With `once` it
# takes one dump and exits (`make backup`). libpq reads the connection from PG* variables.
set -eu

dump() {
  name="/backups/${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
  # Written under a temporary name first: a dump cut short never looks like a complete one.
  pg_dump --format=custom --file="$name.partial"
  mv "$name.partial" "$name"
  echo "backup: wrote $name ($(wc -c < "$name") bytes)"
  # shellcheck disable=SC2012 # the names carry no newlines: they are made just above
  ls -1t /backups/*.dump | tail -n "+$((${BACKUP_KEEP:-14} + 1))" | xargs -r rm -f --
}

if [ "${1:-}" = once ]; then
  dump
  exit 0
fi

trap 'exit 0' TERM INT
while :; do
  dump || echo "backup: pg_dump failed; trying again in ${BACKUP_INTERVAL_SECONDS:-86400} s" >&2
  # In the background, so a stop signal ends the wait at once.
  sleep "${BACKUP_INTERVAL_SECONDS:-86400}" &
  wait $!
done
