#!/usr/bin/env bash
# Runs a command with moto's AWS emulation (serving one request at a time, as
# scripts/harness/moto_serial.py explains) on a free local port, exported to it as
# MOTO_ENDPOINT; and a second moto behind the fault-injecting proxy
# (scripts/harness/fault_proxy.py), exported as FAULT_PROXY_ENDPOINT and, for looking behind
# the proxy, FAULT_PROXY_UPSTREAM, so that fault runs, with their held and repeated calls,
# never slow the other tests. Stops them all afterwards, whatever the command's outcome.
set -euo pipefail

venv="${VENV:-.venv}"
scripts="$(dirname "$0")"
free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
moto_port=$(free_port)
upstream_port=$(free_port)
export MOTO_ENDPOINT="http://127.0.0.1:$moto_port"
export FAULT_PROXY_UPSTREAM="http://127.0.0.1:$upstream_port"
logs=$(mktemp -d)

"$venv/bin/python" "$scripts/moto_serial.py" 127.0.0.1 "$moto_port" >"$logs/moto" 2>&1 &
moto_pid=$!
"$venv/bin/python" "$scripts/moto_serial.py" 127.0.0.1 "$upstream_port" >"$logs/upstream" 2>&1 &
upstream_pid=$!
"$venv/bin/python" "$scripts/fault_proxy.py" 0 "$FAULT_PROXY_UPSTREAM" >"$logs/proxy" 2>&1 &
proxy_pid=$!
pids="$moto_pid $upstream_pid $proxy_pid"
trap 'kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; rm -rf "$logs"' EXIT

up() {
  "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$1/moto-api/data.json', timeout=1)" 2>/dev/null
}
for _ in $(seq 1 100); do
  FAULT_PROXY_ENDPOINT=$(sed -n 's/^fault proxy on //p' "$logs/proxy")
  if [ -n "$FAULT_PROXY_ENDPOINT" ] && up "$MOTO_ENDPOINT" && up "$FAULT_PROXY_UPSTREAM"; then
    export FAULT_PROXY_ENDPOINT
    echo "moto_server is up at $MOTO_ENDPOINT; the fault proxy at $FAULT_PROXY_ENDPOINT"
    "$@"
    exit $?
  fi
  for pid in $pids; do
    kill -0 "$pid" 2>/dev/null || break 2
  done
  sleep 0.2
done
echo "moto_server or the fault proxy did not start:" >&2
cat "$logs/moto" "$logs/upstream" "$logs/proxy" >&2
exit 1
