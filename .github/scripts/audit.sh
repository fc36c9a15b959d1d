#!/usr/bin/env bash
# Dependency audit (`make audit`): known vulnerabilities in what uv.lock and the npm lockfiles
# of tools/ pin. Fails when an advisory source answered with findings. Where no source answers
# (this project's machines reach package registries only), it says "skipped: no advisory
# source" for that ecosystem, and fails anyway when AUDIT_REQUIRE_SOURCE=1 (GitHub Actions):
# an audit that could not ask anyone never passes silently.
#
# Python: pip-audit --strict over `uv export` of uv.lock (hashes, no workspace members). A
# canary first (django 3.2.0, which has published advisories) tells a live source from one
# that answers "no known vulnerabilities" for everything because it was never reached.
# npm: `npm audit` per lockfile; an audit endpoint that refuses or is unreachable is a skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
UV="${UV:-uv}"
PIP_AUDIT="pip-audit==2.10.1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
found=0
skipped=()

pip_audit() { "$UV" tool run --quiet --from "$PIP_AUDIT" pip-audit "$@"; }

echo "django==3.2.0" >"$work/canary.txt"
if pip_audit --strict --no-deps --disable-pip -r "$work/canary.txt" >"$work/canary.out" 2>&1; then
  skipped+=("python (pip-audit's advisory service reported nothing for a known-vulnerable canary)")
elif grep -qE 'PYSEC-|GHSA-|CVE-' "$work/canary.out"; then
  "$UV" export --frozen --format requirements-txt --no-emit-workspace --all-groups \
    --quiet -o "$work/requirements.txt"
  if pip_audit --strict --disable-pip --require-hashes -r "$work/requirements.txt"; then
    echo "audit: python: no known vulnerabilities in uv.lock"
  else
    found=1
  fi
else
  skipped+=("python (no advisory source answered: $(tail -n 1 "$work/canary.out"))")
fi

for dir in tools/asyncapi tools/docs; do
  [[ -f "$dir/package-lock.json" ]] || continue
  if npm audit --prefix "$dir" --audit-level=low >"$work/npm.out" 2>&1; then
    echo "audit: npm $dir: no known vulnerabilities"
  elif grep -qE 'audit endpoint returned an error|ENOAUDIT|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT' "$work/npm.out"; then
    skipped+=("npm $dir (the registry's audit endpoint did not answer)")
  else
    cat "$work/npm.out"
    found=1
  fi
done

for s in "${skipped[@]}"; do echo "audit: skipped: no advisory source: $s"; done
if ((found)); then echo "audit: FAILED: known vulnerabilities (above)"; exit 1; fi
if ((${#skipped[@]})) && [[ "${AUDIT_REQUIRE_SOURCE:-0}" == 1 ]]; then
  echo "audit: FAILED: AUDIT_REQUIRE_SOURCE=1 and no advisory source answered for every ecosystem"
  exit 1
fi
exit 0
