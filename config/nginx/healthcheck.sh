#!/bin/sh
# Proxy health: nginx answers on its internal port. nginx:alpine has curl and busybox wget;
# Debian-based nginx images have neither, so fall back to bash's /dev/tcp.
url=http://127.0.0.1:8081/healthz
if command -v curl >/dev/null 2>&1; then
  exec curl -fsS -o /dev/null --max-time 2 "$url"
elif command -v wget >/dev/null 2>&1; then
  exec wget -q -O /dev/null -T 2 "$url"
fi
exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/8081 || exit 1
  printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3
  IFS=" " read -r _ code _ <&3
  [ "$code" = 200 ]'
