#!/bin/sh
# The `backup` service of docker-compose.prod.yml: a pg_dump of the database into /backups at
# start and every BACKUP_INTERVAL_SECONDS; its dumps older than BACKUP_KEEP_DAYS are deleted,
# never the newest. With `once` it takes one dump and exits (`make backup`). libpq reads the
# connection from the PG* variables.
set -eu

dir=${BACKUP_DIR:-/backups}
keep_days=${BACKUP_KEEP_DAYS:-14}
interval=${BACKUP_INTERVAL_SECONDS:-86400}

dump() {
  name="$dir/${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
  # Written under a temporary name and checked before the rename: a dump cut short never looks
  # like a complete one, and never costs an older one its place.
  if ! pg_dump --format=custom --file="$name.partial" || ! pg_restore --list "$name.partial" >/dev/null; then
    rm -f "$name.partial"
    echo "backup: pg_dump failed; the earlier dumps are kept" >&2
    return 1
  fi
  mv "$name.partial" "$name"
  echo "backup: wrote $name ($(wc -c < "$name") bytes)"
  # shellcheck disable=SC2012 # the names carry no newlines: this script makes them
  newest=$(ls -1t "$dir/${PGDATABASE}"-*.dump | head -n 1)
  find "$dir" -maxdepth 1 -name "${PGDATABASE}-*.dump" -mtime "+$keep_days" ! -path "$newest" \
    -exec rm -f -- {} +
}

if [ "${1:-}" = once ]; then
  dump
  exit $?
fi

# The service starting: what a stop left behind mid-dump goes.
rm -f "$dir"/*.partial
trap 'exit 0' TERM INT
while :; do
  dump || true
  # In the background, so a stop signal ends the wait at once.
  sleep "$interval" &
  wait $!
done
