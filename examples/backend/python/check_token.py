"""A backend checking an otp-verify verification token, with PyJWT.

    python check_token.py JWKS_URL ISSUER AUDIENCE TOKEN

Prints the verified number and whose it is; exits 1 saying why a token is refused. A real
backend keeps one PyJWKClient (it caches the keys), then also checks that `sub` is the
user of the session asking, and that `jti` was not used before.
"""

import sys

import jwt

TOKEN_TYPE = "otp-verification+jwt"


def check(token, jwks, issuer, audience):
    """The token's claims when otp-verify signed it for `audience` and it is still valid."""
    if jwt.get_unverified_header(token).get("typ") != TOKEN_TYPE:
        raise jwt.InvalidTokenError(f"typ is not {TOKEN_TYPE}")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA", "ES256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "sub", "jti", "phone_number"]},
    )


def main():
    jwks_url, issuer, audience, token = sys.argv[1:5]
    try:
        claims = check(token, jwt.PyJWKClient(jwks_url), issuer, audience)
    except jwt.PyJWTError as error:
        print(f"refused: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"{claims['phone_number']} verified for {claims['sub']}")


if __name__ == "__main__":
    main()
