// A backend checking an otp-verify verification token, with jose.
//
//   node check-token.mjs JWKS_URL ISSUER AUDIENCE TOKEN
//
// Prints the verified number and whose it is; exits 1 saying why a token is refused. A real
// backend creates the remote JWKS once (it caches the keys), then also checks that `sub` is
// the user of the session asking, and that `jti` was not used before.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));

try {
  // The key is chosen by `kid`: a token without one is refused, whatever the JWKS holds.
  if (!decodeProtectedHeader(token).kid) throw new Error('the token names no key (kid)');
  const { payload } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'otp-verification+jwt',
    algorithms: ['EdDSA', 'ES256'],
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'phone_number'],
  });
  console.log(`${payload.phone_number} verified for ${payload.sub}`);
} catch (error) {
  console.error(`refused: ${error.code ?? error.name}: ${error.message}`);
  process.exit(1);
}
