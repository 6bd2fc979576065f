#!/bin/sh
# Proxy entrypoint: check what nginx needs with a clear message, then hand over to the
# image's own entrypoint (renders templates/*.template into conf.d, then runs nginx).
set -eu

fail() {
  echo "proxy: $*" >&2
  exit 1
}

for f in "${TLS_CERTIFICATE:?TLS_CERTIFICATE is not set}" "${TLS_CERTIFICATE_KEY:?TLS_CERTIFICATE_KEY is not set}"; do
  [ -r "$f" ] || fail "cannot read $f as $(id -un): development gets it from the tls service;" \
    "production reads certs/tls.crt and certs/tls.key as Compose secrets (docs/stack.md, TLS)"
done
[ -w /etc/nginx/conf.d ] || fail "/etc/nginx/conf.d is not writable by $(id -un): mount a tmpfs there"
[ -x /docker-entrypoint.sh ] || fail "/docker-entrypoint.sh is missing: NGINX_IMAGE must be an nginx official image (or compatible)"

exec /docker-entrypoint.sh "$@"
