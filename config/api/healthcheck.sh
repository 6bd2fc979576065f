#!/bin/sh
# The API container's health check (the image's HEALTHCHECK): GET /health/ready on the
# loopback; healthy on a 200 only (503 while draining, starting or without the database).
#
# It runs every 3 s in every replica, so it uses the cheapest HTTP client the image has:
# busybox wget (node:*-alpine), else bash's /dev/tcp (Debian-based node images have neither
# wget nor curl), else node itself. A `node -e` probe costs ~0.1 s of CPU; on a saturated
# 2-core host that was enough for probes to time out and for swarm to roll a healthy update
# back (docs/swarm.md). wget and bash cost about 2 ms.
set -u
port="${PORT:-8000}"
if command -v wget >/dev/null 2>&1; then
  exec wget -q -T 2 -O /dev/null "http://127.0.0.1:${port}/health/ready"
fi
if command -v bash >/dev/null 2>&1; then
  # HTTP/1.0: the server answers and closes; the status code is the second word of line one.
  # shellcheck disable=SC2016
  exec bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf "GET /health/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
read -r -t 2 _ code _ <&3 && [ "$code" = 200 ]' healthcheck "$port"
fi
exec node -e "require('http').get({host:'127.0.0.1',port:${port},path:'/health/ready',timeout:2500},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"
