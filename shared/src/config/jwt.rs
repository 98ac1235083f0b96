//! Reads how `user-jwt-token` is checked (`JWT_*`); the checking lives in `crate::jwt`.

use std::time::Duration;

use super::ConfigError;
use super::defaults::{parse_default_in, setting};
use super::read::{optional, parse_or, required};
use crate::jwt::{Algorithms, JwtKeys, JwtSettings, parse_public_key};
use crate::keyed_hash::MIN_KEY_BYTES;

impl JwtSettings {
    /// Reads the JWT settings through `lookup`: exactly one of `JWT_SECRET`,
    /// `JWT_PUBLIC_KEY` and `JWT_JWKS_URL`, and the rest. With a public key or a JWKS,
    /// `JWT_ISSUER` and `JWT_AUDIENCE` are required: a provider's keys sign tokens for
    /// many projects, and only these two claims say a token was minted for this one. A
    /// secret is this deployment's own, so they stay optional with it.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = optional(lookup, "JWT_SECRET");
        let public_key = optional(lookup, "JWT_PUBLIC_KEY");
        let jwks_url = optional(lookup, "JWT_JWKS_URL");
        let (keys, implied) = match (secret, public_key, jwks_url) {
            (Some(secret), None, None) => {
                if secret.len() < MIN_KEY_BYTES {
                    let reason = format!("must be at least {MIN_KEY_BYTES} bytes");
                    return Err(ConfigError::invalid("JWT_SECRET", reason));
                }
                let keys = JwtKeys::Secret(secret.into_bytes());
                let implied = keys.implied_algorithm();
                (keys, implied)
            }
            (None, Some(pem), None) => {
                let (key, implied) = parse_public_key(&pem).ok_or_else(|| {
                    ConfigError::invalid(
                        "JWT_PUBLIC_KEY",
                        "not a PEM RSA, EC or Ed25519 public key",
                    )
                })?;
                (JwtKeys::PublicKey(key), implied)
            }
            (None, None, Some(url)) => {
                check_jwks_url(&url)?;
                let keys = JwtKeys::JwksUrl(url);
                let implied = keys.implied_algorithm();
                (keys, implied)
            }
            (None, None, None) => {
                return Err(ConfigError::Missing("JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL"));
            }
            _ => {
                let reason = "set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL";
                return Err(ConfigError::invalid("JWT_SECRET", reason));
            }
        };
        let algorithms: Algorithms = parse_or(lookup, "JWT_ALGORITHMS", implied.into())?;
        algorithms
            .check_family(&keys)
            .map_err(|reason| ConfigError::invalid("JWT_ALGORITHMS", reason))?;
        let (issuer, audience) = match keys {
            JwtKeys::Secret(_) => {
                (optional(lookup, "JWT_ISSUER"), optional(lookup, "JWT_AUDIENCE"))
            }
            JwtKeys::PublicKey(_) | JwtKeys::JwksUrl(_) => {
                (Some(required(lookup, "JWT_ISSUER")?), Some(required(lookup, "JWT_AUDIENCE")?))
            }
        };
        let max_age: u64 = parse_default_in(lookup, "JWT_JWKS_MAX_AGE_SECONDS", 60..=604_800)?;
        Ok(Self {
            keys,
            algorithms,
            issuer,
            audience,
            subject_claim: setting(lookup, "JWT_SUBJECT_CLAIM")?,
            jwks_max_age: Duration::from_secs(max_age),
        })
    }
}

/// A JWKS URL must be `https`: keys fetched in clear could be swapped on the way. Plain
/// `http` is accepted for a loopback host only, for tests.
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::invalid("JWT_JWKS_URL", reason);
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("is not a URL"))?;
    let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match uri.scheme_str() {
        Some("https") if uri.host().is_some() => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(invalid("must be an https URL (http only for a loopback host)")),
    }
}
