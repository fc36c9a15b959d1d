#!/bin/sh
# Runs redis-server in the foreground on 0.0.0.0:6379 without persistence; requires
# REDIS_PASSWORD when it is set. Extra arguments go to redis-server.
set -eu
if [ -n "${REDIS_PASSWORD:-}" ]; then
  set -- --requirepass "$REDIS_PASSWORD" "$@"
fi
exec redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --save '' --appendonly no \
  --dir /tmp "$@"
