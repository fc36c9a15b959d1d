#!/usr/bin/env bash
# Runs Ordo's own processes in the background, one pid file and log each, in one of two layouts:
#   ORDO_LAYOUT=combined (the default): infra/Procfile.combined, one process per service running
#     all its roles (api, consumer, relay, worker) on the service's port;
#   ORDO_LAYOUT=split: infra/Procfile.split, one process per role, each on a port of its own.
# Every process gets ORDO_SECRETS_DIR=.data/secrets/<service> (its database and Redis passwords)
# and ORDO_HTTP_PORT from the Procfile, plus infra/env/<service>.env when it exists (settings of
# the local stack that differ from the defaults); all else comes from the settings defaults.
# `start` switches a service that runs in the other layout (stops those processes first);
# `stop` and `status` see the processes of both layouts. NAMEs come from either Procfile.
# Every process runs under infra/supervise.py, which restarts it when it exits unexpectedly
# (SIGKILL, a crash) with a backoff and a crash-loop limit, and forks it from a preloaded
# interpreter so a restart is ready in seconds (docs/local-stack.md). run/supervisors/NAME.pid
# names the supervisor, run/NAME.pid the process; `stop` stops both, without a restart; `status` shows
# the process's restarts and its last time to ready. `run NAME` does what `start` does, in the
# foreground (the Tiltfile's serve_cmd).
# Usage: [ORDO_LAYOUT=combined|split] infra/services.sh start|stop|status|run|migrate|compile [NAME...]
ORDO_COMPONENT=services
source "$(dirname "$0")/lib.sh"

# Apart from run/*.pid, which tools read as "the processes of the stack" (infra/bin/stack_cpu.py
# sums each one's process tree: a supervisor's would count its child twice).
SUPERVISORS="$ORDO_RUN/supervisors"
mkdir -p "$SUPERVISORS"

ORDO_LAYOUT="${ORDO_LAYOUT:-combined}"
case "$ORDO_LAYOUT" in
  combined) OTHER_LAYOUT=split ;;
  split) OTHER_LAYOUT=combined ;;
  *) die "ORDO_LAYOUT is combined or split, not '$ORDO_LAYOUT'" ;;
esac

# lines LAYOUT: print "layout name service port command" for every process of LAYOUT.
lines() {
  grep -Ev '^\s*(#|$)' "$ORDO_ROOT/infra/Procfile.$1" | while read -r name svc port cmd; do
    echo "$1 $name $svc $port $cmd"
  done
}

# procs [NAME...]: the chosen layout's processes, or the NAMEd ones (looked up in the chosen
# layout first, then in the other one).
procs() {
  (($# == 0)) && { lines "$ORDO_LAYOUT"; return; }
  local want line
  for want in "$@"; do
    line="$( { lines "$ORDO_LAYOUT"; lines "$OTHER_LAYOUT"; } | awk -v n="$want" '$2 == n' | head -n 1)"
    [[ -n "$line" ]] || die "no process named '$want' in infra/Procfile.combined or .split"
    echo "$line"
  done
}

# known NAME...: die unless every NAME is a process of one of the layouts (checked here, in this
# shell: a die inside the process substitutions below would only end their subshell).
known() {
  local want
  for want in "$@"; do
    { lines combined; lines split; } | awk -v n="$want" '$2 == n {found=1} END {exit !found}' ||
      die "no process named '$want' in infra/Procfile.combined or .split"
  done
}

# everything: every process of both layouts, each name once (the chosen layout's first).
everything() {
  { lines "$ORDO_LAYOUT"; lines "$OTHER_LAYOUT"; } | awk '!seen[$2]++'
}

# NAME.pid names the service's process (written by its supervisor at each start, so tools and
# fault injection that signal NAME.pid reach the process itself); supervisors/NAME.pid names
# the supervisor, which is what start, stop and status act on.
# owner NAME COMMAND: print the pid file that controls NAME when it runs COMMAND of this
# checkout: its supervisor's, or NAME.pid for a process started unsupervised by an older
# services.sh; nothing when it does not run.
owner() {
  local command="$ORDO_ROOT/.venv/bin/$2"
  if pid_alive "$SUPERVISORS/$1.pid" "$command"; then echo "$SUPERVISORS/$1.pid"
  elif pid_alive "$ORDO_RUN/$1.pid" "$command"; then echo "$ORDO_RUN/$1.pid"
  fi
}

# ours NAME COMMAND: true when NAME runs COMMAND of this checkout.
ours() { [[ -n "$(owner "$1" "$2")" ]]; }

# stop_process NAME COMMAND: stop NAME (its supervisor stops it without a restart).
stop_process() {
  local file
  file="$(owner "$1" "$2")"
  # The supervisor gives its process 15 s to drain before it kills it.
  stop_pid "${file:-$SUPERVISORS/$1.pid}" "$1" 25 "$ORDO_ROOT/.venv/bin/$2"
  rm -f "$ORDO_RUN/$1.pid" "$SUPERVISORS/$1.pid"
}

http_ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/health/ready"; }

# compile: write the bytecode of the environment and of our sources. The stack runs with
# PYTHONDONTWRITEBYTECODE=1 where the caller sets it and uv installs no .pyc: every start then
# compiled ~1,400 modules from source (5 s of CPU per process, 20-30 s on a loaded machine).
# The environment is compiled again only when it changed (the stamp), our sources each time
# (compileall skips what is current). Errors are a module of a newer Python inside a package.
compile_bytecode() {
  local py="$ORDO_ROOT/.venv/bin/python" stamp="$ORDO_ROOT/.venv/.ordo-bytecode" site
  site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  (
    flock 8
    if [[ ! -f "$stamp" || -n "$(find "$site" "$ORDO_ROOT/uv.lock" -maxdepth 1 -newer "$stamp" -print -quit)" ]]; then
      log "compiling the environment's bytecode (once per change of .venv)"
      nice "$py" -m compileall -q -j 2 "$site" >/dev/null 2>&1 || true
      touch "$stamp"
    fi
    "$py" -m compileall -q "$ORDO_ROOT"/libs/*/src "$ORDO_ROOT"/services/*/src \
      "$ORDO_ROOT"/infra/fakes/*/src >/dev/null 2>&1 || true
  ) 8>"$ORDO_RUN/.compile.lock"
}

# supervised NAME SERVICE PORT COMMAND: exec COMMAND under infra/supervise.py with the stack's
# settings (what start runs in the background and run in the foreground).
supervised() {
  local name="$1" svc="$2" port="$3" cmd="$4" envfile="$ORDO_ROOT/infra/env/$2.env"
  if [[ -f "$envfile" ]]; then set -a; source "$envfile"; set +a; fi
  trap '' HUP  # as nohup did: a closing terminal does not stop the stack
  # Point the process at this stack's servers, whatever ports infra/lib.sh chose.
  ORDO_SECRETS_DIR="$ORDO_SECRETS/$svc" ORDO_HTTP_PORT="$port" \
  ORDO_DATABASE__PORT="$ORDO_PG_PORT" ORDO_REDIS__PORT="$ORDO_REDIS_PORT" \
  ORDO_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:$ORDO_KAFKA_PORT" \
  exec "$ORDO_ROOT/.venv/bin/python" "$ORDO_ROOT/infra/supervise.py" --name "$name" \
    --state "$ORDO_RUN/$name.state" --pidfile "$ORDO_RUN/$name.pid" --ready-url "http://127.0.0.1:$port/health/ready" --preload \
    -- "$ORDO_ROOT/.venv/bin/$cmd"
}

# supervision NAME: "pid CHILD, N restarts, ready in S s" from the supervisor's state file.
supervision() {
  "$ORDO_ROOT/.venv/bin/python" - "$ORDO_RUN/$1.state" <<'PY' 2>/dev/null || true
import json, sys
s = json.load(open(sys.argv[1]))
ready = f", ready in {s['last_ready_s']} s" if s.get("last_ready_s") is not None else ""
last = f", last: {s['last_exit']}" if s.get("restarts") and s.get("last_exit") else ""
print(f"child {s.get('child_pid') or '-'} {s['state']}, {s['restarts']} restarts{ready}{last}")
PY
}

# switch_from LAYOUT SERVICE NAME: stop SERVICE's processes of the other layout than LAYOUT
# (the same service cannot run in both: they share ports, consumer groups and lanes).
switch_from() {
  local layout="$1" service="$2" keep="$3" other="$OTHER_LAYOUT" l name svc port cmd
  [[ "$layout" == "$ORDO_LAYOUT" ]] || other="$ORDO_LAYOUT"
  while read -r l name svc port cmd; do
    [[ "$svc" == "$service" && "$name" != "$keep" ]] || continue
    if ours "$name" "$cmd"; then
      log "$service runs in the $other layout: stopping $name first"
      stop_process "$name" "$cmd"
    fi
  done < <(lines "$other")
}

cmd_start() {
  local layout name svc port cmd started=()
  compile_bytecode
  while read -r layout name svc port cmd; do
    if ours "$name" "$cmd"; then
      log "$name already running (pid $(cat "$(owner "$name" "$cmd")"))"
      continue
    fi
    [[ -x "$ORDO_ROOT/.venv/bin/$cmd" ]] || die "$cmd not found in .venv/bin (run: uv sync --frozen)"
    switch_from "$layout" "$svc" "$name"
    port_open "$port" && die "port $port for $name is taken by another process"
    rm -f "$ORDO_RUN/$name.state"
    (supervised "$name" "$svc" "$port" "$cmd" >>"$ORDO_LOGS/$name.log" 2>&1 </dev/null) &
    echo $! >"$SUPERVISORS/$name.pid"
    started+=("$name:$port")
  done < <(procs "$@")
  for entry in "${started[@]}"; do
    wait_until 120 "${entry%%:*}" http_ready "${entry##*:}"
    log "${entry%%:*} ready on http://127.0.0.1:${entry##*:}"
  done
}

# run NAME: one process under its supervisor in the foreground, logging to stdout (Tilt's
# serve_cmd; Tilt stops it with SIGTERM, which the supervisor forwards).
cmd_run() {
  (($# == 1)) || die "run takes one NAME"
  local layout name svc port cmd
  read -r layout name svc port cmd < <(procs "$1")
  if ours "$name" "$cmd"; then die "$name already runs (pid $(cat "$(owner "$name" "$cmd")")): stop it first"; fi
  switch_from "$layout" "$svc" "$name"
  port_open "$port" && die "port $port for $name is taken by another process"
  compile_bytecode
  rm -f "$ORDO_RUN/$name.state"
  echo $$ >"$SUPERVISORS/$name.pid"
  supervised "$name" "$svc" "$port" "$cmd" </dev/null
}

cmd_stop() {
  local layout name svc port cmd
  while read -r layout name svc port cmd; do
    # Without NAMEs, only what runs (in either layout) is named in the log.
    if (($# == 0)) && ! ours "$name" "$cmd"; then
      rm -f "$ORDO_RUN/$name.pid" "$SUPERVISORS/$name.pid"
      continue
    fi
    stop_process "$name" "$cmd"
  done < <(if (($# == 0)); then everything; else procs "$@"; fi)
}

cmd_status() {
  local layout name svc port cmd state
  while read -r layout name svc port cmd; do
    if ours "$name" "$cmd"; then
      http_ready "$port" && state="ready" || state="up (not ready)"
      printf '%-22s %-15s http://127.0.0.1:%-5s pid %-7s %-8s log %s\n' "$name" "$state" "$port" \
        "$(cat "$(owner "$name" "$cmd")")" "$layout" "$ORDO_LOGS/$name.log"
      [[ -f "$ORDO_RUN/$name.state" ]] && printf '%-22s supervised: %s\n' "" "$(supervision "$name")"
    elif [[ -f "$ORDO_RUN/$name.state" ]] && grep -q '"crash-loop"' "$ORDO_RUN/$name.state"; then
      printf '%-22s %-15s http://127.0.0.1:%-5s %s: %s\n' "$name" "crash loop" "$port" "$layout" \
        "$(supervision "$name") (log $ORDO_LOGS/$name.log)"
    elif (($# > 0)) || [[ "$layout" == "$ORDO_LAYOUT" ]]; then
      printf '%-22s %-15s http://127.0.0.1:%-5s %s\n' "$name" "down" "$port" "$layout"
    fi
  done < <(if (($# == 0)); then everything; else procs "$@"; fi)
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
  start) shift; known "$@"; cmd_start "$@" ;;
  stop) shift; known "$@"; cmd_stop "$@" ;;
  status) shift; known "$@"; cmd_status "$@" ;;
  run) shift; known "$@"; cmd_run "$@" ;;
  migrate) cmd_migrate ;;
  compile) compile_bytecode ;;
  *) echo "usage: [ORDO_LAYOUT=combined|split] $0 start|stop|status|run|migrate|compile [NAME...]" >&2; exit 2 ;;
esac
