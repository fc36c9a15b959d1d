#!/usr/bin/env bash
# Builds Ordo's images with podman: the base (once), the services, the fake payment provider and
# the test servers (PostgreSQL, Redis, Kafka for testcontainers).
# Usage: infra/images/build.sh [services|fake|servers|all]...   (default: all)
# BASE=<image> builds the Python images on another base (an official python:3.11 image).
source "$(dirname "$0")/lib.sh"

"$IMAGES_DIR/ensure-podman.sh"
if ! problem="$(podman info 2>&1 >/dev/null)"; then
  log "images skipped: podman cannot run here: $(tail -n 1 <<<"$problem")"
  exit 0
fi
"$IMAGES_DIR/base.sh"
if ! engine_runs; then
  log "images skipped: no container engine can run here: $(engine_problem)"
  exit 0
fi

build_args=(--layers --pull=never --format oci -q)
if ca="$(host_ca_bundle)"; then build_args+=(--volume "$ca:/run/host-ca.pem:ro"); fi
[[ -n "${BASE:-}" ]] && build_args+=(--build-arg "BASE=$BASE" --pull=missing)

# build TAG CONTAINERFILE CONTEXT [ARGS...]
build() {
  local tag="$1" file="$2" context="$3" started=$SECONDS
  shift 3
  local name="${tag##*/}" out
  out="$ORDO_DATA/logs/image-${name//:/-}.log"
  mkdir -p "$(dirname "$out")"
  podman build "${build_args[@]}" "$@" -f "$file" -t "$tag" "$context" >"$out" 2>&1 ||
    { tail -n 40 "$out" >&2; die "building $tag failed (log: $out)"; }
  log "$tag built in $((SECONDS - started)) s: $(image_size "$tag")"
}

image_size() { podman image inspect --format '{{.Size}}' "$1" | numfmt --to=iec --suffix=B; }

services() {
  build "$SERVICES_IMAGE" "$IMAGES_DIR/python.Containerfile" "$ORDO_ROOT" \
    --ignorefile "$IMAGES_DIR/containerignore"
}

fake() {
  build "$FAKE_IMAGE" "$IMAGES_DIR/fake-provider.Containerfile" "$ORDO_ROOT" \
    --ignorefile "$IMAGES_DIR/containerignore"
}

servers() {
  build "$POSTGRES_IMAGE" "$IMAGES_DIR/servers/postgres.Containerfile" "$IMAGES_DIR/servers"
  build "$REDIS_IMAGE" "$IMAGES_DIR/servers/redis.Containerfile" "$IMAGES_DIR/servers"
  # Kafka: the broker jars infra/kafka/ctl.sh fetched with Maven (pinned in infra/kafka/pom.xml).
  # Hashing ~50 MB of jars into a build costs seconds each time; the image is labelled with its
  # inputs instead and rebuilt only when they change.
  local inputs
  inputs="$(cat "$ORDO_ROOT/infra/kafka/pom.xml" "$ORDO_ROOT/infra/kafka/log4j2.yaml" \
    "$IMAGES_DIR"/servers/kafka* <(podman image inspect --format '{{.Id}}' "$BASE_IMAGE") |
    sha256sum | cut -c1-16)"
  if [[ "$(podman image inspect --format '{{index .Labels "ordo.inputs"}}' "$KAFKA_IMAGE" \
    2>/dev/null || true)" == "$inputs" ]]; then
    log "$KAFKA_IMAGE is up to date: $(image_size "$KAFKA_IMAGE")"
    return 0
  fi
  ORDO_DATA="$ORDO_DATA" "$ORDO_ROOT/infra/kafka/ctl.sh" install
  local context
  context="$(mktemp -d /var/tmp/ordo-kafka-image.XXXXXX)"
  cp -l "$ORDO_DATA"/kafka/libs/*.jar "$context/" 2>/dev/null || cp "$ORDO_DATA"/kafka/libs/*.jar "$context/"
  cp "$ORDO_ROOT/infra/kafka/log4j2.yaml" "$IMAGES_DIR/servers/kafka-entrypoint.sh" "$context/"
  build "$KAFKA_IMAGE" "$IMAGES_DIR/servers/kafka.Containerfile" "$context" \
    --label "ordo.inputs=$inputs"
  rm -rf "$context"
}

(($# == 0)) && set -- all
for what in "$@"; do
  case "$what" in
    services | fake | servers) "$what" ;;
    all) services; fake; servers ;;
    *) die "unknown image set '$what' (services, fake, servers, all)" ;;
  esac
done
