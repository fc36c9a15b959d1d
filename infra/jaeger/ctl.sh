#!/usr/bin/env bash
# Local trace store: Jaeger v1.75.0 (cmd/jaeger, the v2 all-in-one), built once per machine from
# its Go module (infra/tools/go-tool.sh jaeger; ~8 min on 2 cores, cached outside the clone),
# run on loopback with infra/jaeger/config.yaml: OTLP/HTTP in on 14318 (every Ordo process
# exports there by default in the local environment), the query API on 16686
# (/api/traces?service=..., /api/traces/<trace id>), traces in memory (at most
# ORDO_JAEGER_MAX_TRACES). The build has no UI assets: the query API is what works.
# Usage: infra/jaeger/ctl.sh install|start|stop|status|up
ORDO_COMPONENT=jaeger
source "$(dirname "$0")/../lib.sh"

export ORDO_JAEGER_OTLP_HTTP_PORT="${ORDO_JAEGER_OTLP_HTTP_PORT:-14318}"
export ORDO_JAEGER_OTLP_GRPC_PORT="${ORDO_JAEGER_OTLP_GRPC_PORT:-14317}"
export ORDO_JAEGER_QUERY_PORT="${ORDO_JAEGER_QUERY_PORT:-16686}"
export ORDO_JAEGER_QUERY_GRPC_PORT="${ORDO_JAEGER_QUERY_GRPC_PORT:-16685}"
export ORDO_JAEGER_HEALTH_PORT="${ORDO_JAEGER_HEALTH_PORT:-14133}"
export ORDO_JAEGER_METRICS_PORT="${ORDO_JAEGER_METRICS_PORT:-14269}"
# ~100 spans per order: 5,000 traces stay well under a few hundred MB.
export ORDO_JAEGER_MAX_TRACES="${ORDO_JAEGER_MAX_TRACES:-5000}"
PIDFILE="$ORDO_RUN/jaeger.pid"
LOGFILE="$ORDO_LOGS/jaeger.log"
CONFIG="$ORDO_ROOT/infra/jaeger/config.yaml"

binary() { "$ORDO_ROOT/infra/tools/go-tool.sh" jaeger; }

cmd_install() {
  local bin
  bin="$(binary)" || die "could not build jaeger (infra/tools/go-tool.sh jaeger)"
  log "jaeger binary: $bin"
}

ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$ORDO_JAEGER_QUERY_PORT/api/services"; }

cmd_start() {
  local bin
  if pid_alive "$PIDFILE" jaeger; then log "jaeger already running (pid $(cat "$PIDFILE"))"; return; fi
  bin="$(binary)"
  local port
  for port in "$ORDO_JAEGER_OTLP_HTTP_PORT" "$ORDO_JAEGER_QUERY_PORT" "$ORDO_JAEGER_HEALTH_PORT"; do
    port_open "$port" && die "port $port for jaeger is taken by another process"
  done
  # GOMEMLIMIT: the Go runtime collects harder near it, so the process stays near its bound.
  GOMEMLIMIT=768MiB nohup "$bin" --config "$CONFIG" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_until 60 jaeger ready
  log "jaeger ready: OTLP http://127.0.0.1:$ORDO_JAEGER_OTLP_HTTP_PORT, query http://127.0.0.1:$ORDO_JAEGER_QUERY_PORT/api/traces"
}

cmd_stop() { stop_pid "$PIDFILE" jaeger 20 jaeger; }

cmd_status() {
  if pid_alive "$PIDFILE" jaeger && ready; then
    echo "jaeger       up    http://127.0.0.1:$ORDO_JAEGER_QUERY_PORT/api/traces  OTLP http://127.0.0.1:$ORDO_JAEGER_OTLP_HTTP_PORT  pid $(cat "$PIDFILE")  log $LOGFILE"
  else
    echo "jaeger       down  http://127.0.0.1:$ORDO_JAEGER_QUERY_PORT/api/traces"
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  up) cmd_install && cmd_start ;;
  *) echo "usage: $0 install|start|stop|status|up" >&2; exit 2 ;;
esac
