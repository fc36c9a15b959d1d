# shellcheck shell=bash
# Shared by the image scripts: podman's configuration, image names, logging. Source it.
set -euo pipefail

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ORDO_ROOT="$(cd "$IMAGES_DIR/../.." && pwd)"
ORDO_DATA="${ORDO_DATA:-$ORDO_ROOT/.data}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$IMAGES_DIR/containers.conf}"

# The Debian release every locally made image starts from (python3 is 3.11 there, as in uv.lock).
DEBIAN_SUITE=bookworm
BASE_IMAGE="localhost/ordo-debian:$DEBIAN_SUITE"

log() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The first deb mirror apt uses on this machine (one-line or deb822 sources), else Debian's CDN.
debian_mirror() {
  local mirror
  mirror="$(grep -hsE '^(deb |URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources | grep -m1 -oE 'https?://[^ ]*/debian/?$' || true)"
  echo "${mirror:-http://deb.debian.org/debian}"
}

# A CA bundle to mount into builds: an egress proxy that re-signs TLS is trusted by the host's
# bundle only, so package downloads in a build use the host's (never copied into an image).
host_ca_bundle() {
  local f
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [[ -s "$f" ]] && { echo "$f"; return 0; }
  done
  return 1
}

# The images `make images` builds (localhost/: made here, never pulled).
SERVICES_IMAGE=localhost/ordo-services:latest
FAKE_IMAGE=localhost/ordo-fake-payment-provider:latest
POSTGRES_IMAGE=localhost/ordo-test-postgres:15
REDIS_IMAGE=localhost/ordo-test-redis:7
KAFKA_IMAGE=localhost/ordo-test-kafka:latest

# engine_runs: true when podman can run a container here (the base image must exist). The
# reason it cannot, if not, is in engine_problem.
engine_runs() {
  command -v podman >/dev/null && podman info >/dev/null 2>&1 &&
    podman image exists "$BASE_IMAGE" 2>/dev/null &&
    podman run --rm --network=none "$BASE_IMAGE" true >/dev/null 2>&1
}
engine_problem() {
  local out
  command -v podman >/dev/null || { echo "podman is not installed"; return; }
  out="$(podman info 2>&1 >/dev/null)" || { tail -n 1 <<<"$out"; return; }
  podman image exists "$BASE_IMAGE" || { echo "$BASE_IMAGE is missing (make images)"; return; }
  podman run --rm --network=none "$BASE_IMAGE" true 2>&1 | tail -n 1
}
