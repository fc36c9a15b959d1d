#!/usr/bin/env bash
# Runs Ordo's own processes from infra/Procfile in the background, one pid file and log each.
# Every process gets ORDO_SECRETS_DIR=.data/secrets/<service> (its database and Redis passwords)
# and ORDO_HTTP_PORT from the Procfile, plus infra/env/<service>.env when it exists (settings of
# the local stack that differ from the defaults); all else comes from the settings defaults.
# Usage: infra/services.sh start|stop|status|migrate [NAME...]
ORDO_COMPONENT=services
source "$(dirname "$0")/lib.sh"

PROCFILE="$ORDO_ROOT/infra/Procfile"

# procs [NAME...]: print "name service port command" for the chosen (default: all) processes.
procs() {
  grep -Ev '^\s*(#|$)' "$PROCFILE" | while read -r name svc port cmd; do
    if (($# == 0)) || [[ " $* " == *" $name "* ]]; then echo "$name $svc $port $cmd"; fi
  done
}

http_ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/health/ready"; }

cmd_start() {
  local name svc port cmd pidfile started=()
  while read -r name svc port cmd; do
    pidfile="$ORDO_RUN/$name.pid"
    if pid_alive "$pidfile"; then
      log "$name already running (pid $(cat "$pidfile"))"
      continue
    fi
    [[ -x "$ORDO_ROOT/.venv/bin/$cmd" ]] || die "$cmd not found in .venv/bin (run: uv sync --frozen)"
    port_open "$port" && die "port $port for $name is taken by another process"
    local envfile="$ORDO_ROOT/infra/env/$svc.env"
    # Point the process at this stack's servers, whatever ports infra/lib.sh chose.
    (
      if [[ -f "$envfile" ]]; then set -a; source "$envfile"; set +a; fi
      ORDO_SECRETS_DIR="$ORDO_SECRETS/$svc" ORDO_HTTP_PORT="$port" \
      ORDO_DATABASE__PORT="$ORDO_PG_PORT" ORDO_REDIS__PORT="$ORDO_REDIS_PORT" \
      ORDO_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:$ORDO_KAFKA_PORT" \
      exec nohup "$ORDO_ROOT/.venv/bin/$cmd" >>"$ORDO_LOGS/$name.log" 2>&1 </dev/null
    ) &
    echo $! >"$pidfile"
    started+=("$name:$port")
  done < <(procs "$@")
  for entry in "${started[@]}"; do
    wait_until 60 "${entry%%:*}" http_ready "${entry##*:}"
    log "${entry%%:*} ready on http://127.0.0.1:${entry##*:}"
  done
}

cmd_stop() {
  local name svc port cmd
  while read -r name svc port cmd; do
    stop_pid "$ORDO_RUN/$name.pid" "$name" 20
  done < <(procs "$@")
}

cmd_status() {
  local name svc port cmd state
  while read -r name svc port cmd; do
    if pid_alive "$ORDO_RUN/$name.pid"; then
      http_ready "$port" && state="ready" || state="up (not ready)"
      printf '%-16s %-15s http://127.0.0.1:%s  pid %s  log %s\n' "$name" "$state" "$port" \
        "$(cat "$ORDO_RUN/$name.pid")" "$ORDO_LOGS/$name.log"
    else
      printf '%-16s %-15s http://127.0.0.1:%s\n' "$name" "down" "$port"
    fi
  done < <(procs "$@")
}

# Apply every service's Alembic migrations to its own database, as its own role.
cmd_migrate() {
  local ini svc
  for ini in "$ORDO_ROOT"/services/*/alembic.ini; do
    [[ -f "$ini" ]] || continue
    svc="$(basename "$(dirname "$ini")")"
    log "migrating $svc"
    (cd "$(dirname "$ini")" && ORDO_SECRETS_DIR="$ORDO_SECRETS/$svc" \
      ORDO_DATABASE__PORT="$ORDO_PG_PORT" "$ORDO_ROOT/.venv/bin/alembic" -c alembic.ini upgrade head)
  done
  # Identity needs its key-encryption key secret and a first signing key; both steps are no-ops
  # when done already.
  if [[ -x "$ORDO_ROOT/.venv/bin/ordo-identity-cli" ]]; then
    ORDO_SECRETS_DIR="$ORDO_SECRETS/identity" ORDO_DATABASE__PORT="$ORDO_PG_PORT" \
      "$ORDO_ROOT/.venv/bin/ordo-identity-cli" init-keys >/dev/null
  fi
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  migrate) cmd_migrate ;;
  *) echo "usage: $0 start|stop|status|migrate [NAME...]" >&2; exit 2 ;;
esac
