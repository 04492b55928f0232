#!/bin/bash
# The image's HEALTHCHECK: GET http://127.0.0.1:PORT/PATH must answer 200. Uses bash's /dev/tcp,
# so the image needs no curl or wget.
#
#   healthcheck [PORT [PATH]]   PORT defaults to the port of HTTP_ADDR (the services' health
#                               server, default 0.0.0.0:8080), PATH to /healthz
set -euo pipefail
addr="${1:-${HTTP_ADDR:-0.0.0.0:8080}}"
port="${addr##*:}"
path="${2:-/healthz}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
IFS=' ' read -r _ status _ <&3
[[ "$status" == 200 ]]
