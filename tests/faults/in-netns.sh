#!/usr/bin/env bash
# Usage: tests/faults/in-netns.sh NAME DATA_DIR COMMAND...
# Starts a stack of its own (`make up` with ORDO_DATA=DATA_DIR) in the network namespace NAME,
# runs COMMAND inside that namespace, then stops that stack and deletes the namespace, whatever
# COMMAND did. The namespace has its own loopback, so the stack uses the usual ports without
# touching the shared one, and a fault suite may kill, stop and slow down whatever runs there.
set -euo pipefail
name="$1" data="$2"
shift 2
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$data"
inside() { ip netns exec "$name" env ORDO_DATA="$data" "$@"; }
cleanup() {
  (cd "$root" && inside make --no-print-directory down) >>"$data/down.log" 2>&1 || true
  ip netns del "$name" 2>/dev/null || true
}
# A namespace left by an interrupted run: stop what it still runs before starting afresh.
if ip netns list | awk '{print $1}' | grep -qx "$name"; then cleanup; fi
ip netns add "$name"
trap cleanup EXIT
ip netns exec "$name" ip link set lo up
cd "$root"
started=$SECONDS
# A loaded machine can start Kafka slower than infra-up waits for it: a second try finds the
# servers already running and waits again.
if ! inside make --no-print-directory up >"$data/up.log" 2>&1 &&
  ! inside make --no-print-directory up >>"$data/up.log" 2>&1; then
  tail -n 30 "$data/up.log" >&2
  echo "in-netns: the stack in namespace $name did not start (log: $data/up.log)" >&2
  exit 1
fi
echo "in-netns: stack up in namespace $name in $((SECONDS - started)) s"
inside "$@"
