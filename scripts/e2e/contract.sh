#!/usr/bin/env bash
# Fuzzes otp-local against openapi.yaml with schemathesis, with a valid token: no 5xx, and
# every status, header, content type and body as the spec says.
set -euo pipefail

venv="${VENV:-.venv}"
state=$(mktemp -d)
log="$state/stdout"
cargo build -q -p otp-local
bin="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/otp-local"

export OTP_LOCAL_STATE_DIR="$state"
# No send limits, so generated requests reach the logic behind them rather than a 429.
export OTP_RESEND_COOLDOWN_SECONDS=0 OTP_MAX_SENDS_PER_PHONE_PER_HOUR=0
export OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR=0 OTP_MAX_SENDS_PER_IP_PER_HOUR=0
"$bin" --port 0 >"$log" 2>"$state/stderr" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$state"' EXIT

url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^otp-local listening on //p' "$log")
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "otp-local did not start:" >&2
  cat "$state/stderr" >&2
  exit 1
fi
token=$("$bin" token --sub schemathesis)

"$venv/bin/schemathesis" run openapi.yaml \
  --url "$url" \
  --header "user-jwt-token: $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,unsupported_method \
  --max-examples "${CONTRACT_EXAMPLES:-100}" \
  --seed 20261128 \
  --workers 2 \
  --no-color \
  --report-dir "$state/report"

# The verification tokens, checked with an independent JWS implementation as a backend would.
"$venv/bin/python" scripts/e2e/check_verification_tokens.py "$bin"
