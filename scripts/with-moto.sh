#!/usr/bin/env bash
# Runs a command with moto's DynamoDB/SNS emulator (serving one request at a time, as
# scripts/moto_serial.py explains) on a free local port, exported to it as MOTO_ENDPOINT,
# and stops the emulator afterwards, whatever the command's outcome.
set -euo pipefail

venv="${VENV:-.venv}"
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export MOTO_ENDPOINT="http://127.0.0.1:$port"
log=$(mktemp)

"$venv/bin/python" "$(dirname "$0")/moto_serial.py" 127.0.0.1 "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/data.json', timeout=1)" 2>/dev/null; then
    echo "moto_server is up at $MOTO_ENDPOINT"
    "$@"
    exit $?
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
echo "moto_server did not start:" >&2
cat "$log" >&2
exit 1
