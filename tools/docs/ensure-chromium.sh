#!/usr/bin/env bash
# Debian's chromium for the browser tests of /docs (tests/docs/test_browser.py), installed from
# Debian's packages when missing; playwright-core (tools/docs, npm ci) drives it, so no browser
# is ever downloaded from elsewhere.
set -euo pipefail
ORDO_COMPONENT=docs
# shellcheck source=../../infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/infra/lib.sh"
[[ -x /usr/bin/chromium ]] || apt_install chromium
