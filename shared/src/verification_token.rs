//! The verification result a backend can check: a compact JWS, signed with the deployment's
//! Ed25519 or P-256 key, saying which subject verified which phone number and when.
//!
//! The key id (`kid`) is the RFC 7638 thumbprint of the public key, so a backend that
//! fetches the public JWKS finds the key without any other agreement.

use std::fmt;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The `typ` header of a verification token.
pub const TOKEN_TYPE: &str = "otp-verification+jwt";

/// The `typ` header of a token for a test number (`OTP_TEST_NUMBERS`), verified with a fixed
/// code and no SMS: a backend that checks `typ` as documented refuses it, and one that wants
/// such tokens (for app review) must accept this type by name.
pub const TEST_NUMBER_TOKEN_TYPE: &str = "otp-verification-test+jwt";

/// Why a verification key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PEM Ed25519 or EC P-256 private key (PKCS#8)")]
pub struct InvalidSigningKey;

/// Signs verification tokens. `Debug` never shows the key.
#[derive(Clone)]
pub struct VerificationTokens {
    key: EncodingKey,
    header: Header,
    public: Jwk,
    issuer: String,
    audience: Option<String>,
    ttl_seconds: u64,
}

/// What a token says; see docs/api.md, "Verification tokens".
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    iat: u64,
    exp: u64,
    jti: &'a str,
    phone_number: &'a str,
    phone_number_verified: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    phone_number_reassigned: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test_number: bool,
}

/// One successful verification, as the token reports it.
#[derive(Debug, Clone, Copy)]
pub struct Verification<'a> {
    /// The caller's subject, as in its JWT.
    pub subject: &'a str,
    /// The verified number, E.164.
    pub phone_e164: &'a str,
    /// Another subject was the phone's verified owner before.
    pub reassigned: bool,
    /// The number is one of `OTP_TEST_NUMBERS`: verified with a fixed code, no SMS.
    pub test_number: bool,
    /// When it happened.
    pub now: u64,
    /// A random token id.
    pub token_id: &'a str,
}

impl VerificationTokens {
    /// A signer for `pem` (PKCS#8 Ed25519 or EC P-256; `\n` escapes are accepted for line
    /// breaks), naming `issuer`, for `audience` when given, valid `ttl_seconds`.
    pub fn from_pem(
        pem: &str,
        issuer: String,
        audience: Option<String>,
        ttl_seconds: u64,
    ) -> Result<Self, InvalidSigningKey> {
        let pem = pem.replace("\\n", "\n");
        let (key, algorithm) = EncodingKey::from_ed_pem(pem.as_bytes())
            .map(|key| (key, Algorithm::EdDSA))
            .or_else(|_| EncodingKey::from_ec_pem(pem.as_bytes()).map(|k| (k, Algorithm::ES256)))
            .map_err(|_| InvalidSigningKey)?;
        Self::from_key(key, algorithm, issuer, audience, ttl_seconds)
    }

    /// A signer for the Ed25519 key whose 32-byte seed is `seed` (for `otp-local`, which
    /// generates one), as [`Self::from_pem`] otherwise.
    pub fn from_ed25519_seed(
        seed: &[u8; 32],
        issuer: String,
        audience: Option<String>,
        ttl_seconds: u64,
    ) -> Result<Self, InvalidSigningKey> {
        let key = EncodingKey::from_ed_der(&ed25519_pkcs8(seed));
        Self::from_key(key, Algorithm::EdDSA, issuer, audience, ttl_seconds)
    }

    fn from_key(
        key: EncodingKey,
        algorithm: Algorithm,
        issuer: String,
        audience: Option<String>,
        ttl_seconds: u64,
    ) -> Result<Self, InvalidSigningKey> {
        let mut public = Jwk::from_encoding_key(&key, algorithm).map_err(|_| InvalidSigningKey)?;
        let kid = public.thumbprint(ThumbprintHash::SHA256).map_err(|_| InvalidSigningKey)?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        // Explicit typing (RFC 8725, 3.11): no other JWT can pass for this one.
        let typ = Some(TOKEN_TYPE.to_owned());
        let header = Header { kid: Some(kid), typ, ..Header::new(algorithm) };
        // A key that cannot sign is refused at start, not on the first verification.
        jsonwebtoken::encode(&header, &serde_json::json!({}), &key)
            .map_err(|_| InvalidSigningKey)?;
        Ok(Self { key, header, public, issuer, audience, ttl_seconds })
    }

    /// The signed token for `verification`; `None` only if signing failed, which the key's
    /// test signature at start rules out.
    pub fn mint(&self, verification: Verification<'_>) -> Option<String> {
        let claims = Claims {
            iss: &self.issuer,
            sub: verification.subject,
            aud: self.audience.as_deref(),
            iat: verification.now,
            exp: verification.now + self.ttl_seconds,
            jti: verification.token_id,
            phone_number: verification.phone_e164,
            phone_number_verified: true,
            phone_number_reassigned: verification.reassigned,
            test_number: verification.test_number,
        };
        let mut header = self.header.clone();
        if verification.test_number {
            header.typ = Some(TEST_NUMBER_TOKEN_TYPE.to_owned());
        }
        jsonwebtoken::encode(&header, &claims, &self.key).ok()
    }

    /// The public key as a JWKS, for backends to check tokens with.
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: vec![self.public.clone()] }
    }

    /// The key id (`kid`): the RFC 7638 thumbprint of the public key.
    pub fn key_id(&self) -> &str {
        self.header.kid.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for VerificationTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationTokens")
            .field("algorithm", &self.header.alg)
            .field("kid", &self.header.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

/// The PKCS#8 (RFC 8410) encoding of an Ed25519 private key: a fixed prefix, then the seed.
pub fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    [PREFIX.as_slice(), seed].concat()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    use super::*;

    const ED: &str = include_str!("../../testkit/keys/ed-private.pem");
    const EC: &str = include_str!("../../testkit/keys/ec-private.pem");

    fn verification(reassigned: bool) -> Verification<'static> {
        Verification {
            subject: "alice",
            phone_e164: "+919876543219",
            reassigned,
            test_number: false,
            now: 1_767_225_600,
            token_id: "t1",
        }
    }

    fn decode(tokens: &VerificationTokens, token: &str) -> Value {
        let jwk = &tokens.jwks().keys[0];
        let algorithm = tokens.header.alg;
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.set_audience(&["backend"]);
        validation.set_issuer(&["https://otp.example"]);
        jsonwebtoken::decode(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn tokens_carry_the_verification_and_check_with_the_public_jwks() {
        for (pem, algorithm) in [(ED, Algorithm::EdDSA), (EC, Algorithm::ES256)] {
            let issuer = "https://otp.example".to_owned();
            let tokens =
                VerificationTokens::from_pem(pem, issuer, Some("backend".into()), 300).unwrap();
            assert_eq!(tokens.header.alg, algorithm);
            let token = tokens.mint(verification(false)).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(tokens.key_id()));
            assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
            let claims = decode(&tokens, &token);
            assert_eq!(claims["sub"], "alice");
            assert_eq!(claims["phone_number"], "+919876543219");
            assert_eq!(claims["phone_number_verified"], true);
            assert_eq!(claims["exp"].as_u64(), Some(1_767_225_600 + 300));
            assert!(claims.get("phone_number_reassigned").is_none());
            let reassigned = decode(&tokens, &tokens.mint(verification(true)).unwrap());
            assert_eq!(reassigned["phone_number_reassigned"], true);
        }
    }

    #[test]
    fn a_test_numbers_token_is_of_another_type() {
        let tokens =
            VerificationTokens::from_pem(ED, "https://otp.example".into(), None, 300).unwrap();
        let test = Verification { test_number: true, ..verification(false) };
        let token = tokens.mint(test).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(TEST_NUMBER_TOKEN_TYPE));
        assert_ne!(TEST_NUMBER_TOKEN_TYPE, TOKEN_TYPE);
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037, appendix A.3: the thumbprint of the RFC's Ed25519 test key.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let tokens = VerificationTokens::from_ed25519_seed(&seed, "i".into(), None, 60).unwrap();
        assert_eq!(tokens.key_id(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn other_keys_are_refused_and_debug_hides_the_key() {
        let rsa = include_str!("../../testkit/keys/rsa-private.pem");
        for pem in [rsa, "garbage", include_str!("../../testkit/keys/ed-public.pem")] {
            assert_eq!(
                VerificationTokens::from_pem(pem, "i".into(), None, 60).unwrap_err(),
                InvalidSigningKey
            );
        }
        let flattened = ED.replace('\n', "\\n");
        let tokens = VerificationTokens::from_pem(&flattened, "i".into(), None, 60).unwrap();
        let shown = format!("{tokens:?}");
        assert!(shown.contains("EdDSA") && !shown.contains("MC4CAQ"), "{shown}");
    }
}
