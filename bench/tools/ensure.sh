#!/usr/bin/env bash
# Installs the load generators the benchmarks drive (Debian packages): wrk, a C HTTP load
# generator, for closed-loop HTTP comparisons where a Python client would be the bottleneck.
ORDO_COMPONENT=bench
source "$(dirname "$0")/../../infra/lib.sh"
command -v wrk >/dev/null || apt_install wrk
