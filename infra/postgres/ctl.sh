#!/usr/bin/env bash
# Local PostgreSQL for Ordo: Debian's server binaries, our own cluster on 127.0.0.1:$ORDO_PG_PORT,
# run as the postgres user (the server refuses root), data in .data/postgres.
# Usage: infra/postgres/ctl.sh install|start|stop|status|wait|provision|up
ORDO_COMPONENT=postgres
source "$(dirname "$0")/../lib.sh"

PG_HOME="$ORDO_DATA/postgres"
PG_DATA="$PG_HOME/data"
PG_LOG="$ORDO_LOGS/postgres.log"
PG_PIDFILE="$ORDO_RUN/postgres.pid"

pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql (run: $0 install)"
  echo "$dir"
}

# as_pg CMD...: run CMD as the postgres user when we are root, else as ourselves.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The postgres user must be able to walk down to the data folder. A checkout in a private folder
# (mktemp -d makes mode 700) blocks it; add only the search bit (o+x) where it is missing.
ensure_traversable() {
  [[ "$(id -u)" == 0 ]] || return 0
  local dir="$PG_HOME"
  while [[ "$dir" != "/" ]]; do
    if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
      log "granting search permission (o+x) on $dir so the postgres user can reach its data"
      chmod o+x "$dir"
    fi
    dir="$(dirname "$dir")"
  done
}

cmd_install() {
  if ! ls -d /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  log "server binaries: $(pg_bindir)"
}

cmd_init() {
  mkdir -p "$PG_HOME"
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$PG_HOME"
  ensure_traversable
  ensure_secret postgres_superuser >/dev/null
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  log "initdb $PG_DATA"
  local pwfile="$PG_HOME/.pwfile"
  install -m 600 /dev/null "$pwfile"
  cat "$ORDO_SECRETS/postgres_superuser" >"$pwfile"
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$pwfile"
  as_pg "$(pg_bindir)/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    >"$ORDO_LOGS/initdb.log" 2>&1 || { cat "$ORDO_LOGS/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pwfile"
  # Loopback only, TCP only (socket paths break in deep checkouts), sized for a 2-core dev box
  # that also runs the tests' one-database-per-worker pools.
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<CONF

# --- ordo local settings ---
listen_addresses = '127.0.0.1'
port = $ORDO_PG_PORT
unix_socket_directories = ''
max_connections = 400
shared_buffers = 512MB
work_mem = 8MB
wal_level = replica
log_timezone = 'UTC'
timezone = 'UTC'
log_min_duration_statement = 1000
CONF
  # Superuser for admin and tests; every service role reaches only the database of its own name.
  as_pg tee "$PG_DATA/pg_hba.conf" >/dev/null <<HBA
# TYPE  DATABASE  USER      ADDRESS        METHOD
host    all       postgres  127.0.0.1/32   scram-sha-256
host    sameuser  all       127.0.0.1/32   scram-sha-256
HBA
}

cmd_start() {
  cmd_init
  if pg_ready; then
    log "already running on 127.0.0.1:$ORDO_PG_PORT"
  else
    # A pid file left by a killed server would make pg_ctl refuse to start.
    if [[ -f "$PG_DATA/postmaster.pid" ]] && ! kill -0 "$(head -n1 "$PG_DATA/postmaster.pid")" 2>/dev/null; then
      as_pg rm -f "$PG_DATA/postmaster.pid"
    fi
    touch "$PG_LOG"
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$PG_LOG"
    # The port comes from infra/lib.sh on every start, so ORDO_PG_PORT always wins over the
    # value written into postgresql.conf at initdb time.
    as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $ORDO_PG_PORT" -w -t 60 start \
      >/dev/null || { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL did not start"; }
    log "started on 127.0.0.1:$ORDO_PG_PORT"
  fi
  head -n1 "$PG_DATA/postmaster.pid" >"$PG_PIDFILE"
  cmd_wait
}

pg_ready() { "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$ORDO_PG_PORT" -t 2; }

cmd_wait() { wait_until "${1:-60}" "PostgreSQL" pg_ready; }

cmd_stop() {
  if [[ -f "$PG_DATA/postmaster.pid" ]] && pg_ready; then
    as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || true
  fi
  stop_pid "$PG_PIDFILE" postgres
}

cmd_status() {
  if pid_alive "$PG_PIDFILE" && pg_ready; then
    echo "postgres  up    127.0.0.1:$ORDO_PG_PORT  pid $(cat "$PG_PIDFILE")  log $PG_LOG"
  else
    echo "postgres  down  127.0.0.1:$ORDO_PG_PORT"
  fi
}

psql_admin() {
  PGPASSWORD="$(cat "$ORDO_SECRETS/postgres_superuser")" "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$ORDO_PG_PORT" -U postgres -d postgres "$@"
}

# One role and one database per service, same name; only that role may connect to it.
cmd_provision() {
  local svc role pw
  for svc in "${ORDO_DB_SERVICES[@]}"; do
    role="ordo_$svc"
    mkdir -p "$ORDO_SECRETS/$svc"
    pw="$(ensure_secret "$svc/database__password")"
    psql_admin -v role="$role" -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'role') \gexec
SQL
  done
  log "databases and roles: ${ORDO_DB_SERVICES[*]/#/ordo_}"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait "${2:-60}" ;;
  provision) cmd_provision ;;
  up) cmd_install; cmd_start; cmd_provision ;;
  psql) shift; psql_admin "$@" ;;
  *) echo "usage: $0 install|start|stop|status|wait|provision|up|psql" >&2; exit 2 ;;
esac
