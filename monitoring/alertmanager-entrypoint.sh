#!/bin/sh
# Alertmanager reads no environment variables, so this writes the webhook URL from
# ALERTMANAGER_WEBHOOK_URL (or ALERTMANAGER_WEBHOOK_URL_FILE) into a copy of its config,
# then runs it with the remaining arguments. POSIX sh + awk: works on the official
# busybox-based image and on Debian alike. The URL is never printed (it may hold a token).
set -eu

src=${ALERTMANAGER_CONFIG_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
out=${ALERTMANAGER_RENDERED_CONFIG:-${TMPDIR:-/tmp}/alertmanager.yml}
placeholder='http://alertmanager-webhook.invalid/'

url=${ALERTMANAGER_WEBHOOK_URL:-}
if [ -n "${ALERTMANAGER_WEBHOOK_URL_FILE:-}" ]; then
  url=$(cat "$ALERTMANAGER_WEBHOOK_URL_FILE")
fi

case "$url" in
  '') echo "alertmanager-entrypoint: ALERTMANAGER_WEBHOOK_URL is not set: alerts are shown in Alertmanager's UI and API and sent nowhere" >&2 ;;
  http://*|https://*) ;;
  *) echo "alertmanager-entrypoint: ALERTMANAGER_WEBHOOK_URL must start with http:// or https://" >&2; exit 64 ;;
esac
case "$url" in
  *[\'\"\ \	]*) echo "alertmanager-entrypoint: ALERTMANAGER_WEBHOOK_URL must not contain quotes or blanks (percent-encode them)" >&2; exit 64 ;;
esac

umask 077
WEBHOOK_URL="$url" PLACEHOLDER="$placeholder" awk '
  /# webhook:begin/ { skip = (ENVIRON["WEBHOOK_URL"] == ""); next }
  /# webhook:end/ { skip = 0; next }
  skip { next }
  {
    i = index($0, ENVIRON["PLACEHOLDER"])
    if (i > 0) $0 = substr($0, 1, i - 1) ENVIRON["WEBHOOK_URL"] substr($0, i + length(ENVIRON["PLACEHOLDER"]))
    print
  }
' "$src" > "$out"

exec /bin/alertmanager --config.file="$out" "$@"
