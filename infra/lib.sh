# shellcheck shell=bash
# Shared helpers for the local infrastructure scripts. Source it; do not run it.
# Everything lives under $ORDO_DATA (default: <checkout>/.data), which git ignores.
set -euo pipefail

ORDO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORDO_DATA="${ORDO_DATA:-$ORDO_ROOT/.data}"
ORDO_RUN="$ORDO_DATA/run"     # pid files
ORDO_LOGS="$ORDO_DATA/logs"   # one log per server/process
ORDO_SECRETS="$ORDO_DATA/secrets"
mkdir -p "$ORDO_RUN" "$ORDO_LOGS" "$ORDO_SECRETS"
chmod 700 "$ORDO_SECRETS"

# Ports of the local stack: unusual ones, so a developer's own servers on the defaults are untouched.
ORDO_PG_PORT="${ORDO_PG_PORT:-15432}"
ORDO_REDIS_PORT="${ORDO_REDIS_PORT:-16379}"
ORDO_KAFKA_PORT="${ORDO_KAFKA_PORT:-19092}"
ORDO_KAFKA_CONTROLLER_PORT="${ORDO_KAFKA_CONTROLLER_PORT:-19093}"

# The services that own a database (one database and one role each, same name).
ORDO_DB_SERVICES=(gateway identity catalog orders payments notifications)

log() { printf '\033[1m[%s]\033[0m %s\n' "${ORDO_COMPONENT:-infra}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_running PID: true when PID is a process that runs. A process killed (say with SIGKILL)
# whose parent has not reaped it yet is a zombie: `kill -0` still succeeds, but it runs nothing
# and holds no port. Our processes are orphans, reaped by PID 1, which in a container may never
# do it; so the state is read too (/proc/PID/stat, after the parenthesised command name).
pid_running() {
  local pid="$1" stat
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/stat" ]]; then
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
  else
    stat="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
  fi
  [[ -n "$stat" && "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

# pid_alive FILE [COMMAND]: true when FILE names a running process (not a zombie) and, when
# COMMAND is given, one whose command line contains it: pids are reused (pid_max may be 32768),
# so a stale pid file can name some other process.
pid_alive() {
  local file="$1" command="${2:-}" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file" 2>/dev/null || true)"
  pid_running "$pid" || return 1
  [[ -z "$command" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$command"
}

# stop_pid FILE NAME [SECONDS] [COMMAND]: TERM the process in FILE (if it is COMMAND's), wait
# for it, KILL it past the deadline.
stop_pid() {
  local file="$1" name="$2" wait_s="${3:-30}" command="${4:-}" pid
  if ! pid_alive "$file" "$command"; then
    rm -f "$file"
    log "$name is not running"
    return 0
  fi
  pid="$(cat "$file")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((wait_s * 10))); do
    pid_running "$pid" || { rm -f "$file"; log "$name stopped (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "$name did not stop in ${wait_s}s: killing pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
  local deadline_s="$1" what="$2"; shift 2
  local end=$((SECONDS + deadline_s))
  # Only stdout is silenced: a check may explain on stderr why it gives up early.
  until "$@" >/dev/null; do
    if ((SECONDS >= end)); then
      die "$what not ready after ${deadline_s}s (see $ORDO_LOGS)"
    fi
    sleep 0.2
  done
}

# ensure_secret NAME: print the secret in $ORDO_SECRETS/NAME, creating a random one first if missing.
ensure_secret() {
  local file="$ORDO_SECRETS/$1"
  if [[ ! -s "$file" ]]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24), end="")' >"$file")
  fi
  cat "$file"
}

# apt_install PACKAGE...: install Debian packages that are missing (apt-get update first, once).
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ "$(id -u)" == 0 ]] || die "need root to apt-get install ${missing[*]} (or install them yourself)"
  log "installing ${missing[*]} from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
