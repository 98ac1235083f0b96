"""Runs the backend examples of examples/backend/ (Python PyJWT, Node jose, Rust
jsonwebtoken) against a live otp-local, as an app's backend would meet its tokens.

`test_backend_examples.py --otp-local PATH --rust-example PATH`. Each example must accept a
verification token otp-local signed after a real register and verify, and refuse: one that
has expired, one for another audience or from another issuer, one with another `typ`, one
signed by another key under the same `kid`, one with no `kid` or an unknown one, one with
`alg: none`, one signed HS256 with the public key as the secret, and one otp-local issued for
a test number (OTP_TEST_NUMBERS), which a backend must never take for a real verification.
The bad tokens are signed here (with PyJWT, and by hand for the two it refuses to make), with
otp-local's own key where the key is not the point, but for the test number's, which is
otp-local's own. Node's dependencies are installed with `npm ci` from
examples/backend/node/package-lock.json when missing.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EXAMPLES = os.path.join(ROOT, "examples", "backend")
ISSUER, AUDIENCE = "otp-local", "backend"
PHONE = {"phone_number": "9876543219", "countryCode": "+91"}
TEST_NUMBER, TEST_CODE = "+919876500000", "424242"


def call(base, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="GET" if body is None else "POST")
    request.add_header("content-type", "application/json")
    request.add_header("origin", base)
    if token:
        request.add_header("user-jwt-token", token)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def good_token(base):
    session = call(base, "/_local/token", {"sub": "alice"})["token"]
    registered = call(base, "/fe/users/auth/otp/register", PHONE, session)
    sms = call(base, "/_local/sms")[-1]["body"]
    code = re.search(r"\b\d{6}\b", sms).group(0)
    verified = call(base, "/fe/users/auth/otp/verify",
                    {**PHONE, "authCode": registered["authCode"], "otp": code}, session)
    return verified["verificationToken"]


def test_number_token(base):
    """What otp-local answers a verification of a test number with: no SMS, the fixed code."""
    session = call(base, "/_local/token", {"sub": "alice"})["token"]
    phone = {"phone_number": TEST_NUMBER, "countryCode": ""}
    registered = call(base, "/fe/users/auth/otp/register", phone, session)
    verified = call(base, "/fe/users/auth/otp/verify",
                    {**phone, "authCode": registered["authCode"], "otp": TEST_CODE}, session)
    return verified["verificationToken"]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, claims, sign):
    """A compact JWS built by hand, for what PyJWT refuses to sign (alg none, HMAC with a public key)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def bad_tokens(good, key_pem, jwks):
    """Tokens a backend must refuse, each wrong in one way only."""
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())

    def signed(changes=None, typ=header["typ"], key=key_pem, kid=header["kid"]):
        headers = {"typ": typ} if kid is None else {"kid": kid, "typ": typ}
        return jwt.encode({**claims, **(changes or {})}, key, algorithm=header["alg"], headers=headers)

    public = json.dumps(jwks["keys"][0]).encode()
    return {
        "expired": signed({"iat": now - 900, "exp": now - 600}),
        "another audience": signed({"aud": "someone-else"}),
        "another issuer": signed({"iss": "someone-else"}),
        "another typ": signed(typ="JWT"),
        "another key": signed(key=Ed25519PrivateKey.generate()),
        "no kid": signed(kid=None),
        "an unknown kid": signed(kid="not-a-key-of-the-jwks"),
        "alg none": hand_made({**header, "alg": "none"}, claims, lambda _: b""),
        "HS256 keyed with the public key": hand_made(
            {**header, "alg": "HS256"}, claims, lambda data: hmac.new(public, data, hashlib.sha256).digest()),
    }


def examples(jwks_url, jwks_file, rust_binary):
    node = os.path.join(EXAMPLES, "node")
    if not os.path.isdir(os.path.join(node, "node_modules", "jose")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node, check=True)
    return {
        "Python (PyJWT)": [sys.executable, os.path.join(EXAMPLES, "python", "check_token.py"), jwks_url],
        "Node (jose)": ["node", os.path.join(node, "check-token.mjs"), jwks_url],
        "Rust (jsonwebtoken)": [rust_binary, jwks_file],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--otp-local", required=True)
    parser.add_argument("--rust-example", required=True)
    args = parser.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "OTP_LOCAL_STATE_DIR": state, "VERIFICATION_TOKEN_AUDIENCE": AUDIENCE,
               "OTP_TEST_NUMBERS": f"{TEST_NUMBER}={TEST_CODE}"}
        env.pop("JWT_SECRET", None)
        server = subprocess.Popen([args.otp_local, "--port", "0"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            base = server.stdout.readline().strip().removeprefix("otp-local listening on ")
            subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
            good = good_token(base)
            jwks = call(base, "/_local/jwks.json")
            with open(os.path.join(state, "verification-key.pem"), "rb") as key:
                tokens = {"good": good, **bad_tokens(good, key.read(), jwks),
                          "test number": test_number_token(base)}
            jwks_file = os.path.join(state, "jwks.json")
            with open(jwks_file, "w") as out:
                json.dump(jwks, out)
            for name, command in examples(base + "/_local/jwks.json", jwks_file, args.rust_example).items():
                for case, token in tokens.items():
                    run = subprocess.run([*command, ISSUER, AUDIENCE, token], capture_output=True, text=True,
                                         timeout=60)
                    accepted = run.returncode == 0
                    if case == "good" and "+919876543219 verified for alice" not in run.stdout:
                        failures.append(f"{name}: the good token was misread: {run.stdout.strip()}")
                    if accepted != (case == "good"):
                        failures.append(f"{name}: the {case} token was {'accepted' if accepted else 'refused'}: "
                                        f"{run.stdout.strip()} {run.stderr.strip()}")
                    else:
                        print(f"{name}: {case}: {'accepted' if accepted else run.stderr.strip()}")
        finally:
            server.terminate()
            server.wait()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"every backend example accepts a good token and refuses the {len(tokens) - 1} bad ones")


if __name__ == "__main__":
    main()
