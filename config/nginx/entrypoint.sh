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

# How nginx finds the API (docs/stack.md, "How nginx follows the API replicas"). socket: a fixed
# upstream of Unix socket slots in API_SOCKET_DIR, a folder shared with the api containers, which
# point the slots at themselves; deploys never change this configuration, so nginx is never
# reloaded and no client connection is ever closed by a deploy (Compose). dns: `api` looked up
# in Docker's DNS on every request (cached 1 s), for swarm, whose tasks may run on other nodes
# and whose rolling updates replace tasks without shopctl. auto: dns when swarm filled in
# SWARM_TASK_NAME (a Go template in docker-compose.production.yml that Compose leaves as it
# is), else socket.
mode=${API_UPSTREAM_MODE:-auto}
if [ "$mode" = auto ]; then
  case "${SWARM_TASK_NAME:-}" in
    '' | *'{{'*) mode=socket ;;
    *) mode=dns ;;
  esac
fi
# The image renders NGINX_ENVSUBST_TEMPLATE_DIR: a copy with the upstream of the chosen mode added.
templates=/tmp/nginx-templates
rm -rf "$templates"
mkdir -p "$templates"
cp "${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"/*.template "$templates"/
export NGINX_ENVSUBST_TEMPLATE_DIR="$templates"
case "$mode" in
  socket)
    dir=${API_SOCKET_DIR:-/run/shop-api}
    slots=${API_SOCKET_SLOTS:-16}
    case "$slots" in '' | *[!0-9]*) fail "API_SOCKET_SLOTS must be a number, not \"$slots\"" ;; esac
    [ -d "$dir" ] || fail "API_SOCKET_DIR $dir is not mounted: the proxy and the api services share the api-sockets volume there"
    {
      echo "# Rendered at start by entrypoint.sh (socket mode): never rewritten, never reloaded."
      echo "# Each slot is a link that an api replica points at its own socket (api/src/http/socket-slots.ts)."
      echo "upstream api {"
      i=0
      while [ "$i" -lt "$slots" ]; do
        # max_fails=0: a dangling slot (a replica just killed) costs one failed connect(), then the next slot.
        echo "    server unix:$dir/slot-$i.sock max_fails=0;"
        i=$((i + 1))
      done
      echo "    keepalive 32;"
      echo "    # Short: it bounds how long a stopping replica waits for nginx to close its idle connections,"
      echo "    # and stays below the API's 65 s, so the API never closes a connection nginx may reuse."
      echo "    keepalive_timeout 5s;"
      echo "    keepalive_requests 10000;"
      echo "}"
      echo "map \$host \$api_upstream {"
      echo "    default api;"
      echo "}"
    } > "$templates/api-upstream.conf.template"
    echo "proxy: API upstream mode socket ($slots slots in $dir): no reload on deploys" >&2
    ;;
  dns)
    resolver=
    while read -r key value _; do
      if [ "$key" = nameserver ]; then resolver=$value; break; fi
    done < /etc/resolv.conf
    case "$resolver" in
      '') resolver=127.0.0.11 ;;
      *:*) resolver="[$resolver]" ;;
    esac
    export API_DNS_RESOLVER="$resolver"
    dns_template=/etc/nginx/shop/api-upstream-dns.conf.template
    [ -r "$dns_template" ] || fail "API_UPSTREAM_MODE=dns needs $dns_template (config/nginx/api-upstream-dns.conf.template)"
    cp "$dns_template" "$templates/api-upstream.conf.template"
    echo "proxy: API upstream mode dns (resolver $resolver): nginx follows the api tasks in DNS" >&2
    ;;
  *) fail "API_UPSTREAM_MODE must be auto, socket or dns, not \"$mode\"" ;;
esac

exec /docker-entrypoint.sh "$@"
