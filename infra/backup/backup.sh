#!/usr/bin/env bash
# Logical backup of the local PostgreSQL (docs/adr/0004-backups.md): the cluster's roles
# (pg_dumpall --globals-only) and one pg_dump (custom format) per service database, each its
# own consistent snapshot, into $ORDO_BACKUPS/<UTC time>/ with a manifest.json saying when each
# snapshot was taken (the recovery point) and how long it took; `latest` points at the newest.
# Usage: infra/backup/backup.sh            (env: ORDO_BACKUPS, default $ORDO_DATA/backups;
#                                           ORDO_BACKUP_KEEP, default 7 backups kept)
ORDO_COMPONENT=backup
source "$(dirname "$0")/../lib.sh"

BACKUPS="${ORDO_BACKUPS:-$ORDO_DATA/backups}"
KEEP="${ORDO_BACKUP_KEEP:-7}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$bindir/pg_dump" ]] || die "no PostgreSQL client binaries (run: make infra-up)"
export PGHOST=127.0.0.1 PGPORT="$ORDO_PG_PORT" PGUSER=postgres
PGPASSWORD="$(cat "$ORDO_SECRETS/postgres_superuser")"
export PGPASSWORD

now_ms() { date -u +%s%3N; }
iso() { date -u -d "@$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
dest="$BACKUPS/$stamp"
# The dumps hold password hashes and personal data: readable by their owner only.
umask 077
mkdir -p "$dest.partial"
started="$(now_ms)"
"$bindir/pg_dumpall" --globals-only --no-role-passwords >/dev/null 2>&1 \
  || die "PostgreSQL does not answer on 127.0.0.1:$ORDO_PG_PORT"
"$bindir/pg_dumpall" --globals-only >"$dest.partial/globals.sql"
entries=()
for svc in "${ORDO_DB_SERVICES[@]}"; do
  db="ordo_$svc"
  t0="$(now_ms)"
  # pg_dump takes its snapshot as it starts: t0 bounds the recovery point from below.
  "$bindir/pg_dump" --format=custom --compress=6 --dbname="$db" --file="$dest.partial/$db.dump"
  t1="$(now_ms)"
  size="$(stat -c %s "$dest.partial/$db.dump")"
  entries+=("{\"database\": \"$db\", \"snapshot_at\": \"$(iso "$t0")\", \"seconds\": $(((t1 - t0) / 1000)).$(printf '%03d' $(((t1 - t0) % 1000))), \"bytes\": $size}")
  log "$db: $size bytes in $((t1 - t0)) ms"
done
finished="$(now_ms)"
{
  printf '{\n  "format": "ordo-logical-v1",\n  "server_version": "%s",\n' \
    "$("$bindir/psql" -X -Atc 'SHOW server_version' -d postgres)"
  printf '  "started_at": "%s",\n  "finished_at": "%s",\n  "databases": [\n    ' \
    "$(iso "$started")" "$(iso "$finished")"
  (IFS=$'\n'; printf '%s' "${entries[*]}" | paste -sd, - | sed 's/},{/},\n    {/g')
  printf '  ]\n}\n'
} >"$dest.partial/manifest.json"
mv "$dest.partial" "$dest"
ln -sfn "$stamp" "$BACKUPS/latest"
log "backup $dest: $(du -sh "$dest" | cut -f1) in $((finished - started)) ms"
# Keep the newest $KEEP backups.
ls -1d "$BACKUPS"/2*Z 2>/dev/null | sort | head -n "-$KEEP" | xargs -r rm -rf
echo "$dest"
