#!/bin/sh
# Cache entrypoint: render the ACL file from the password, then run the image's own
# entrypoint with config/redis.conf. The password is stored only as a SHA-256 hash.
set -eu

if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  [ -r "$REDIS_PASSWORD_FILE" ] || { echo "cache: cannot read REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE as $(id -un)" >&2; exit 1; }
  password=$(cat "$REDIS_PASSWORD_FILE")
else
  password=${REDIS_PASSWORD:-}
fi
[ -n "$password" ] || { echo "cache: set REDIS_PASSWORD or REDIS_PASSWORD_FILE" >&2; exit 1; }
unset REDIS_PASSWORD
hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
unset password

umask 077
# default: the API (and the exporter): every key and channel, every command except the
# dangerous ones (FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS, SHUTDOWN, MONITOR, ACL, MODULE,
# REPLICAOF, MIGRATE...). Read-only diagnostics come back for health checks and
# redis-exporter (INFO, LATENCY LATEST, SLOWLOG GET/LEN); EVAL and EVALSHA (rate limiter,
# cache) are not in @dangerous.
cat > /tmp/users.acl <<ACL
user default on #$hash ~* &* +@all -@dangerous +info +client|setname +client|getname +client|id +client|info +latency|latest +slowlog|get +slowlog|len
user ${REDIS_BACKUP_USER:-backup} on #$hash resetkeys resetchannels -@all +bgsave +lastsave +info +ping
ACL

exec docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf --maxmemory "${REDIS_MAXMEMORY:-192mb}" "$@"
