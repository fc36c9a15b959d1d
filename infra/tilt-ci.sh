#!/usr/bin/env bash
# `make tilt-ci`: `tilt ci` (the Tiltfile's local mode) brings the whole stack to ready, then
# one process is SIGKILLed and must come back ready under Tilt. It all runs in a network
# namespace of its own (own loopback, so the usual ports are free) with its own ORDO_DATA, so
# it never touches the stack `make up` runs; its servers are stopped and the namespace deleted
# at the end. Tilt is built once per machine (infra/tools/go-tool.sh tilt).
# Usage: infra/tilt-ci.sh            (TILT_CI_TIMEOUT, default 10m)
#        infra/tilt-ci.sh check NAME (the Tiltfile's restart-check resource: SIGKILL NAME's
#                                     process, wait until its supervisor sees it ready again)
ORDO_COMPONENT=tilt
source "$(dirname "$0")/lib.sh"

# state NAME FIELD: one field of NAME's supervisor state file.
state() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' \
    "$ORDO_RUN/$1.state" "$2" 2>/dev/null || echo None
}

if [[ "${1:-}" == check ]]; then
  name="${2:?usage: tilt-ci.sh check NAME}"
  [[ "$(state "$name" state)" == ready ]] || die "$name is not ready: $(state "$name" state)"
  child="$(state "$name" child_pid)" restarts="$(state "$name" restarts)"
  kill -KILL "$child"
  killed=$(date +%s%N)
  end=$((SECONDS + 120))
  until [[ "$(state "$name" state)" == ready && "$(state "$name" restarts)" -gt "$restarts" ]]; do
    ((SECONDS < end)) || die "$name not ready again 120 s after SIGKILL"
    sleep 0.05
  done
  log "$name (pid $child) SIGKILLed under Tilt: ready again after $((($(date +%s%N) - killed) / 1000000)) ms as pid $(state "$name" child_pid)"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "tilt-ci needs root (ip netns)"
command -v ip >/dev/null || apt_install iproute2
tilt="$("$ORDO_ROOT/infra/tools/go-tool.sh" tilt)"
ns="ordo-tilt-ci-$$"
data="$ORDO_DATA/tilt-ci"
mkdir -p "$data/logs"
out="$data/logs/tilt-ci.log"

in_ns() {
  ip netns exec "$ns" env ORDO_DATA="$data" ORDO_TILT_MODE=local ORDO_LAYOUT=combined \
    ORDO_TILT_RESTART_CHECK=orders "$@"
}
cleanup() {
  local argv
  for argv in "infra/services.sh stop" "infra/kafka/ctl.sh stop" "infra/redis/ctl.sh stop" \
    "infra/postgres/ctl.sh stop"; do
    # shellcheck disable=SC2086 # each entry is a command and its argument
    in_ns "$ORDO_ROOT"/$argv >/dev/null 2>&1 || true
  done
  ip netns delete "$ns" 2>/dev/null || true
}
ip netns add "$ns" || die "cannot create a network namespace (needs CAP_NET_ADMIN)"
trap cleanup EXIT
ip netns exec "$ns" ip link set lo up

log "tilt ci in network namespace $ns (data: $data, log: $out)"
start=$SECONDS
if ! (cd "$ORDO_ROOT" && in_ns "$tilt" ci --web-mode=prod --timeout "${TILT_CI_TIMEOUT:-10m}") \
  >"$out" 2>&1; then
  tail -n 60 "$out" >&2
  die "tilt ci failed after $((SECONDS - start)) s (log: $out)"
fi
grep -E 'ready again after|SUCCESS' "$out" | sed 's/^.*│ *//' >&2 || true
log "tilt ci green in $((SECONDS - start)) s"

# No cluster runs here: the k8s mode is evaluated (images, the local overlay, resources, port
# forwards), not applied. Every process of the split layout must be a resource of its own.
kustomize="$("$ORDO_ROOT/infra/tools/go-tool.sh" kustomize)"
(cd "$ORDO_ROOT" && in_ns env PATH="$(dirname "$kustomize"):$PATH" ORDO_TILT_MODE=k8s \
  ORDO_TILT_LIVE=0 "$tilt" alpha tiltfile-result 2>"$data/logs/tilt-k8s.log") |
  python3 -c '
import json, sys
text = sys.stdin.read()
result = json.loads(text[text.index("{"):])
names = {m["Name"] for m in result["Manifests"]}
procfile = [l.split()[0] for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
missing = sorted(set(procfile) - names)
forwards = [m["Name"] for m in result["Manifests"] if "localPort" in json.dumps(m)]
if missing or "gateway-api" not in forwards:
    sys.exit(f"k8s mode: no resource for {missing}, port forwards on {forwards}")
print(f"k8s mode evaluates: {len(names)} resources, port forwards on {len(forwards)}")
' "$ORDO_ROOT/infra/Procfile.split" >&2 || die "the Tiltfile's k8s mode (log: $data/logs/tilt-k8s.log)"
