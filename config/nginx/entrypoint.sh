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

# How nginx finds the API (docs/swarm.md). static: `api` resolved when nginx loads its
# configuration, shopctl rewrites the upstream during Compose rolling deploys. dns: `api`
# looked up in Docker's DNS on every request (cached 1 s), for swarm, whose rolling updates
# replace tasks without shopctl. auto: dns when swarm filled in SWARM_TASK_NAME (a Go
# template in docker-compose.production.yml that Compose leaves as it is), else static.
mode=${API_UPSTREAM_MODE:-auto}
if [ "$mode" = auto ]; then
  case "${SWARM_TASK_NAME:-}" in
    '' | *'{{'*) mode=static ;;
    *) mode=dns ;;
  esac
fi
case "$mode" in
  static) ;;
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
    # The image renders NGINX_ENVSUBST_TEMPLATE_DIR: a copy where the dns upstream replaces the static one.
    templates=/tmp/nginx-templates
    rm -rf "$templates"
    mkdir -p "$templates"
    cp "${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"/*.template "$templates"/
    cp "$dns_template" "$templates/api-upstream.conf.template"
    export NGINX_ENVSUBST_TEMPLATE_DIR="$templates"
    echo "proxy: API upstream mode dns (resolver $resolver): nginx follows the api tasks in DNS" >&2
    ;;
  *) fail "API_UPSTREAM_MODE must be auto, static or dns, not \"$mode\"" ;;
esac

exec /docker-entrypoint.sh "$@"
