#!/usr/bin/env bash
# Print the path of a uv binary, installing the pinned version with pip first if there is none.
# Works whether python3 is pyenv's (pip installs freely) or Debian's (PEP 668: --user needed).
set -euo pipefail
UV_VERSION="${UV_VERSION:-0.13.8}"
for candidate in "$(command -v uv 2>/dev/null || true)" "$HOME/.local/bin/uv"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done
echo "installing uv $UV_VERSION with pip" >&2
python3 -m pip install -q "uv==$UV_VERSION" >&2 2>/dev/null \
  || python3 -m pip install -q --user --break-system-packages "uv==$UV_VERSION" >&2
found="$(command -v uv 2>/dev/null || true)"
[[ -n "$found" ]] || found="$HOME/.local/bin/uv"
[[ -x "$found" ]] || { echo "uv could not be installed" >&2; exit 1; }
echo "$found"
