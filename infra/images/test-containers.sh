#!/usr/bin/env bash
# Runs the chassis integration tests once more, against PostgreSQL, Redis and Kafka started by
# testcontainers (ORDO_TEST_SERVERS=containers) from the images of `make images`, over podman's
# API socket. Extra arguments go to pytest. Skips, saying why, only where no engine can run.
source "$(dirname "$0")/lib.sh"

# The servers' images (cached layers: seconds when `make images` ran already).
"$IMAGES_DIR/build.sh" servers
if ! engine_runs; then
  log "test-containers skipped: no container engine can run here ($(engine_problem))"
  exit 0
fi
"$IMAGES_DIR/podman-api.sh" start
trap '"$IMAGES_DIR/podman-api.sh" stop' EXIT
started=$SECONDS
env $("$IMAGES_DIR/podman-api.sh" env) ORDO_TEST_SERVERS=containers \
  "${UV:-uv}" run --frozen pytest -n 2 -p no:cacheprovider "$@" \
  "$ORDO_ROOT/libs/shared/tests/integration" "$ORDO_ROOT/tests/images/test_testcontainers.py"
log "chassis integration tests against containers: $((SECONDS - started)) s"
