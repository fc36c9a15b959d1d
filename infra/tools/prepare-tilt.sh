#!/usr/bin/env bash
# Runs inside the copied tilt module before `go build` (infra/tools/go-tool.sh).
# The module ships an empty vendor/ (Go then refuses -mod=mod's module graph as inconsistent)
# and embeds the web UI from pkg/assets/build/, which the module does not contain: a stub page
# lets it compile; Tilt runs with --web-mode=prod and serves its API and CLI without the UI.
set -euo pipefail
if [[ -d vendor ]] && [[ -z "$(find vendor -type f -print -quit)" ]]; then rm -rf vendor; fi
mkdir -p pkg/assets/build
[[ -f pkg/assets/build/index.html ]] ||
  printf '<!doctype html><title>Tilt</title><p>Web UI not built here: use the tilt CLI.</p>\n' \
    >pkg/assets/build/index.html
