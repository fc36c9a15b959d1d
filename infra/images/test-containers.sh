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
# The plugin labels this run's containers and stops them at the end; whatever a killed run
# left behind is removed here.
run_id="test-containers-$$-$RANDOM"
cleanup() {
  podman ps -aq --filter "label=dev.ordo.test-run=$run_id" | xargs -r podman rm -f >/dev/null
  "$IMAGES_DIR/podman-api.sh" stop
}
"$IMAGES_DIR/podman-api.sh" start
trap cleanup EXIT
started=$SECONDS
env $("$IMAGES_DIR/podman-api.sh" env) ORDO_TEST_SERVERS=containers ORDO_TEST_RUN_ID="$run_id" \
  "${UV:-uv}" run --frozen pytest -n 2 -p no:cacheprovider "$@" \
  "$ORDO_ROOT/libs/shared/tests/integration" "$ORDO_ROOT/tests/images/test_testcontainers.py"
log "chassis integration tests against containers: $((SECONDS - started)) s"
