#!/bin/sh
# Cache health: PING answered with the password (REDISCLI_AUTH keeps it out of `ps`).
set -eu
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
else
  REDISCLI_AUTH=${REDIS_PASSWORD:-}
fi
export REDISCLI_AUTH
[ "$(redis-cli -h 127.0.0.1 -p 6379 --no-auth-warning ping)" = PONG ]
