#!/usr/bin/env bash
# Builds a pinned Go tool once and prints the path of its binary. The binaries live in a cache
# outside the checkout ($ORDO_TOOLS_CACHE, default ~/.cache/ordo/tools/<name>-<version>/), so a
# fresh clone on a machine that has built them once pays nothing, and a fresh machine pays once.
# Pins: infra/tools/go-tools.txt (name, module, version, package inside the module).
# Why not `go install`: the Go module proxy here serves exact versions only, and `go install
# MOD@VER` refuses modules whose go.mod has replace directives (tilt, jaeger). Downloading the
# module and building inside it as the main module honours those directives.
# A tool may need its source patched before it builds: infra/tools/prepare-<name>.sh runs in the
# copied module directory when it exists.
# Usage: infra/tools/go-tool.sh NAME    (prints the binary's path on stdout; logs on stderr)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:?usage: go-tool.sh NAME}"
line="$(awk -v n="$name" '$1 == n' "$here/go-tools.txt")"
[[ -n "$line" ]] || { echo "go-tool: no pin for '$name' in $here/go-tools.txt" >&2; exit 2; }
read -r _ module version package <<<"$line"

cache="${ORDO_TOOLS_CACHE:-$HOME/.cache/ordo/tools}"
dest="$cache/$name-$version"
bin="$dest/$name"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "go-tool: Go is not installed" >&2; exit 2; }
mkdir -p "$cache"
exec 9>"$cache/.$name.lock"
flock 9                      # two builds of one tool at once would race on the work dir
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

echo "go-tool: building $name $version from $module (once per machine; minutes)" >&2
start=$SECONDS
src="$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
work="$(mktemp -d "$cache/.build-$name.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -R "$src/." "$work/"
chmod -R u+w "$work"
if [[ -x "$here/prepare-$name.sh" ]]; then (cd "$work" && "$here/prepare-$name.sh"); fi
mkdir -p "$dest"
(cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" nice go build -trimpath -o "$bin.partial" "$package")
mv "$bin.partial" "$bin"
echo "go-tool: built $name $version in $((SECONDS - start)) s: $bin" >&2
echo "$bin"
