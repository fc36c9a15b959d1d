#!/usr/bin/env bash
# What the fault suite and the soak need besides the stack: ip (network namespaces), tc (a
# shaped link to the broker) and iptables (packet loss), from Debian's packages when missing.
set -euo pipefail
ORDO_COMPONENT=faults
# shellcheck source=../../infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/infra/lib.sh"
command -v ip >/dev/null && command -v tc >/dev/null || apt_install iproute2
command -v iptables >/dev/null || apt_install iptables
