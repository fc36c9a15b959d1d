#!/usr/bin/env bash
# Expand/contract, tested for real (docs/deploy.md): the previous release's code must still work
# on the schema the new release's migrations leave, because during a rollout old pods run against
# the migrated database until the last one is replaced.
#
# For SERVICE (default payments), "the previous release" is the commit before the newest one that
# changed its migrations. This checks that commit out in a git worktree (with its own uv.lock and
# environment), replaces its migrations/versions with this checkout's committed ones, and runs
# its integration tests (TESTS, default the database-heavy ones) against the local PostgreSQL:
# its fixtures migrate each test database to the NEW head, then its OLD repositories and units
# of work run on it. Its drift test is left out: old models differ from a new schema by design.
#
# One pytest process by default (SCHEMA_COMPAT_WORKERS=0): 13 tests of ~3 s cost less than
# starting xdist workers, each importing the whole service.
# Usage: [SERVICE=payments] [TESTS="test_api.py ..."] infra/k8s/schema_compat.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
service="${SERVICE:-payments}"
tests="${TESTS:-test_api.py test_consumer.py}"
UV="${UV:-uv}"

if [[ "$(git rev-parse --is-shallow-repository)" == true ]]; then
  echo "schema-compat: FAILED: a shallow clone has no previous release (fetch the history)" >&2
  exit 1
fi
migrated="$(git log -1 --format=%H -- "services/$service/migrations/versions")"
[[ -n "$migrated" ]] || { echo "schema-compat: no migration history for $service" >&2; exit 1; }
previous="$(git rev-parse "$migrated^")"
echo "schema-compat: $service's code at ${previous:0:12} (before ${migrated:0:12}, its newest" \
  "migration change) against HEAD's migrations ($(git ls-tree --name-only HEAD "services/$service/migrations/versions/" | xargs -n1 basename | grep -c '\.py$') revisions)"

work="$(mktemp -d "${TMPDIR:-/tmp}/ordo-schema-compat.XXXXXX")"
cleanup() { cd "$root"; git worktree remove --force "$work" >/dev/null 2>&1 || rm -rf "$work"; git worktree prune; }
trap cleanup EXIT
git worktree add --quiet --detach "$work" "$previous"
rm -rf "$work/services/$service/migrations/versions"
git archive HEAD "services/$service/migrations/versions" | tar -x -C "$work"

cd "$work"
start=$SECONDS
# The old release's own dependencies (uv's cache makes this a link farm, not a download).
"$UV" sync --frozen --quiet
paths=()
for t in $tests; do paths+=("services/$service/tests/integration/$t"); done
# Its fixtures find the servers of this checkout's local stack.
ORDO_DATA="${ORDO_DATA:-$root/.data}" "$UV" run --frozen pytest -q -p no:cacheprovider \
  -n "${SCHEMA_COMPAT_WORKERS:-0}" "${paths[@]}"
echo "schema-compat: ok: the previous release of $service runs on the new schema ($((SECONDS - start)) s)"
