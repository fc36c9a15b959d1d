#!/usr/bin/env bash
# podman's Docker-compatible API on a unix socket under $ORDO_DATA/run, for testcontainers.
# Usage: infra/images/podman-api.sh start|stop|status|env
#   env prints the variables a test run needs (DOCKER_HOST and testcontainers' settings).
source "$(dirname "$0")/lib.sh"

RUN_DIR="$ORDO_DATA/run"
SOCK="$RUN_DIR/podman-api.sock"
PIDFILE="$RUN_DIR/podman-api.pid"
LOG="$ORDO_DATA/logs/podman-api.log"
mkdir -p "$RUN_DIR" "$(dirname "$LOG")"

running() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "unix://$SOCK"
}

answers() { curl -fs --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null; }

cmd_start() {
  running && answers && return 0
  command -v podman >/dev/null || die "podman is missing (infra/images/ensure-podman.sh)"
  rm -f "$SOCK"
  # --time=0: the service never exits by itself; `stop` ends it.
  setsid podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local i
  for i in $(seq 1 100); do
    answers && { log "podman API on $SOCK (pid $(cat "$PIDFILE"))"; return 0; }
    running || break
    sleep 0.2
  done
  tail -n 20 "$LOG" >&2
  die "podman's API did not answer on $SOCK"
}

cmd_stop() {
  if running; then
    kill "$(cat "$PIDFILE")"
    log "podman API stopped"
  fi
  rm -f "$PIDFILE" "$SOCK"
}

cmd_status() {
  if running && answers; then log "podman API: up on $SOCK"; else log "podman API: down"; fi
}

cmd_env() {
  # docker_host: testcontainers would otherwise take /.dockerenv (present here) as a sign that
  # it runs in a container and look up a gateway. Ryuk (the reaper) needs a registry image.
  echo "DOCKER_HOST=unix://$SOCK"
  echo "TESTCONTAINERS_RYUK_DISABLED=true"
  echo "TESTCONTAINERS_CONNECTION_MODE=docker_host"
  echo "CONTAINERS_CONF=$CONTAINERS_CONF"
}

case "${1:-}" in
  start | stop | status | env) "cmd_$1" ;;
  *) die "usage: $0 start|stop|status|env" ;;
esac
