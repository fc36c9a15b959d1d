#!/bin/sh
# Initialises a cluster on first start (superuser password from POSTGRES_PASSWORD), then runs
# PostgreSQL in the foreground on 0.0.0.0:5432. Extra arguments go to `postgres` (-c name=value).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pwfile"
  initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
# A test server: speed over durability; sized for a few xdist workers' pools.
exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB "$@"
