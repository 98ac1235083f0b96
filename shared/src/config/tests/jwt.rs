//! `JwtSettings::from_lookup`: one key source, the algorithm it implies, and the claims a
//! provider's keys require.

use jsonwebtoken::Algorithm;

use super::{SECRETS, env};
use crate::config::ConfigError;
use crate::jwt::{JwtKeys, JwtSettings};

#[test]
fn jwt_key_sources_are_exclusive_and_imply_their_algorithm() {
    let cases = [
        (include_str!("../../../../testkit/keys/rsa-public.pem"), Algorithm::RS256),
        (include_str!("../../../../testkit/keys/ec-public.pem"), Algorithm::ES256),
        (include_str!("../../../../testkit/keys/ed-public.pem"), Algorithm::EdDSA),
    ];
    let claims = [("JWT_ISSUER", "https://idp.example"), ("JWT_AUDIENCE", "otp-api")];
    let with_claims = |pairs: &[(&str, &str)]| env(&[&claims[..], pairs].concat());
    for (pem, implied) in cases {
        let jwt = JwtSettings::from_lookup(&with_claims(&[("JWT_PUBLIC_KEY", pem)])).unwrap();
        assert!(matches!(jwt.keys, JwtKeys::PublicKey(_)));
        assert_eq!(jwt.algorithms.as_slice(), [implied]);
        let hmac = with_claims(&[("JWT_PUBLIC_KEY", pem), ("JWT_ALGORITHMS", "HS256")]);
        assert!(JwtSettings::from_lookup(&hmac).is_err(), "never HMAC with a public key");
    }
    let jwks = with_claims(&[("JWT_JWKS_URL", "https://idp.example/jwks.json")]);
    assert_eq!(JwtSettings::from_lookup(&jwks).unwrap().algorithms.as_slice(), [Algorithm::RS256]);

    let refused = [
        ("JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"),
        ("JWT_JWKS_URL", "ftp://idp.example/jwks"),
        ("JWT_JWKS_URL", "http://idp.example/jwks.json"),
        ("JWT_JWKS_URL", "https:///jwks.json"),
    ];
    for (name, value) in refused {
        match JwtSettings::from_lookup(&with_claims(&[(name, value)])) {
            Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
            other => panic!("{name}: expected an error naming it, got {other:?}"),
        }
    }
    let both = env(&[
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("JWT_JWKS_URL", "https://idp.example/jwks.json"),
    ]);
    assert!(JwtSettings::from_lookup(&both).is_err(), "one key source only");
}

#[test]
fn public_keys_and_jwks_require_issuer_and_audience_secrets_do_not() {
    let pem = include_str!("../../../../testkit/keys/rsa-public.pem");
    let sources = [("JWT_PUBLIC_KEY", pem), ("JWT_JWKS_URL", "https://idp.example/jwks.json")];
    for source in sources {
        let missing = |pairs: &[(&str, &str)]| {
            JwtSettings::from_lookup(&env(&[&[source], pairs].concat())).unwrap_err()
        };
        assert_eq!(missing(&[]), ConfigError::Missing("JWT_ISSUER"));
        let issuer_only = [("JWT_ISSUER", "https://idp.example")];
        assert_eq!(missing(&issuer_only), ConfigError::Missing("JWT_AUDIENCE"));
        assert_eq!(missing(&[("JWT_AUDIENCE", "otp-api")]), ConfigError::Missing("JWT_ISSUER"));
    }
    let secret = env(&[SECRETS[0]]);
    assert!(JwtSettings::from_lookup(&secret).is_ok(), "a secret is this deployment's own");
}

#[test]
fn jwks_urls_are_https_but_for_loopback_hosts() {
    let claims = [("JWT_ISSUER", "i"), ("JWT_AUDIENCE", "a")];
    for url in ["http://127.0.0.1:9000/jwks", "http://localhost/jwks", "http://[::1]:80/jwks"] {
        let pairs = [&claims[..], &[("JWT_JWKS_URL", url)]].concat();
        assert!(JwtSettings::from_lookup(&env(&pairs)).is_ok(), "{url}");
    }
}
