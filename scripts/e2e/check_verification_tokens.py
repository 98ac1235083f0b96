"""Checks otp-local's verification tokens with an independent JWS implementation (PyJWT),
as an app's backend would: `check_verification_tokens.py PATH_TO_OTP_LOCAL`.

For a generated Ed25519 key and for a given EC P-256 key, it registers and verifies a phone
over HTTP, fetches the public JWKS, checks the token's signature, issuer, audience and
expiry with PyJWT, checks every claim, and checks that the `kid` is the RFC 7638 thumbprint
of the public key, computed here from the JWK. Exits non-zero on the first failure.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

import jwt

PHONE = {"phone_number": "9876543219", "countryCode": "+91"}
EC_KEY = os.path.join(os.path.dirname(__file__), "..", "..", "testkit", "keys", "ec-private.pem")


def request(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("user-jwt-token", token)
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members, sorted, no white space; base64url."""
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check(binary, env, algorithm, issuer, audience):
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, **env, "OTP_LOCAL_STATE_DIR": state}
        env.pop("JWT_SECRET", None)
        server = subprocess.Popen(
            [binary, "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            base = server.stdout.readline().strip().removeprefix("otp-local listening on ")
            token = subprocess.run(
                [binary, "token", "--sub", "alice"], env=env, capture_output=True, text=True, check=True
            ).stdout.strip()
            registered = request(base, "POST", "/fe/users/auth/otp/register", token, PHONE)
            sms = request(base, "GET", "/_local/sms")[-1]["body"]
            code = re.search(r"\b\d{6}\b", sms).group(0)
            verified = request(
                base, "POST", "/fe/users/auth/otp/verify", token,
                {**PHONE, "authCode": registered["authCode"], "otp": code},
            )
            jwks = request(base, "GET", "/_local/jwks.json")
        finally:
            server.terminate()
            server.wait()

    verification_token = verified["verificationToken"]
    header = jwt.get_unverified_header(verification_token)
    assert header["alg"] == algorithm, header
    assert header["typ"] == "otp-verification+jwt", header  # RFC 8725 3.11: explicit typing
    [jwk] = jwks["keys"]
    assert "d" not in jwk, "the JWKS holds the public key only"
    assert header["kid"] == jwk["kid"] == thumbprint(jwk), (header, jwk)

    key = jwt.PyJWK.from_dict(jwk)
    claims = jwt.decode(
        verification_token,
        key,
        algorithms=[algorithm],
        issuer=issuer,
        audience=audience,
        options={"require": ["iss", "sub", "iat", "exp", "jti"]},
    )
    assert claims["sub"] == "alice", claims
    assert claims["phone_number"] == "+919876543219", claims
    assert claims["phone_number_verified"] is True, claims
    assert claims["exp"] - claims["iat"] == 300, claims
    assert len(claims["jti"]) >= 32, claims
    assert "phone_number_reassigned" not in claims, claims
    if audience is None:
        assert "aud" not in claims, claims

    # A token signed by anyone else, or altered, is refused.
    forged = verification_token[:-4] + ("AAAA" if not verification_token.endswith("AAAA") else "BBBB")
    try:
        jwt.decode(forged, key, algorithms=[algorithm], issuer=issuer, audience=audience)
    except jwt.InvalidTokenError:
        pass
    else:
        raise AssertionError("a forged token was accepted")
    print(f"verification token ({algorithm}) checked with PyJWT {jwt.__version__}: {sorted(claims)}")


def main():
    binary = sys.argv[1]
    check(binary, {}, "EdDSA", "otp-local", None)
    with open(EC_KEY) as pem:
        ec = {
            "VERIFICATION_TOKEN_PRIVATE_KEY": pem.read(),
            "VERIFICATION_TOKEN_ISSUER": "https://otp.example",
            "VERIFICATION_TOKEN_AUDIENCE": "backend.example",
        }
    check(binary, ec, "ES256", "https://otp.example", "backend.example")


if __name__ == "__main__":
    main()
