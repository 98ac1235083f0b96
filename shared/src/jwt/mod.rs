//! The `user-jwt-token` check (RFC 8725): algorithms fixed by configuration, keys from a
//! secret, a PEM public key or a JWKS looked up by `kid` (never from `jku`, `x5u` or `jwk`
//! headers), `exp` and the subject required, `nbf` honoured, `iss` and `aud` enforced
//! when configured.

mod jwks;
mod settings;

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

pub use jwks::{FETCH_TIMEOUT, JwkKey, Jwks, KeysUnavailable, RETRY_WITHOUT_KEYS};
pub use settings::{Algorithms, InvalidAlgorithms, JwtKeys, JwtSettings, parse_public_key};

/// Tokens longer than this are refused before any parsing; real ones are far shorter.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// The shortest time between two fetches of a JWKS.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);

/// Why a token was refused. Callers answer every variant with the same 401, but
/// [`JwtError::KeysUnavailable`], which is the identity provider's failure, not the token's.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Over [`MAX_TOKEN_BYTES`].
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    /// A JWKS is configured and the header has no `kid`.
    #[error("token names no key id (kid)")]
    MissingKeyId,
    /// The JWKS has no key with the header's `kid`.
    #[error("no key with the token's kid")]
    UnknownKeyId,
    /// No configured algorithm suits the token's key (its family, or its JWK's `alg`).
    #[error("no configured algorithm fits the token's key")]
    AlgorithmNotAllowed,
    /// The subject claim is absent, not a string, or blank.
    #[error("subject claim is missing or empty")]
    NoSubject,
    /// No key set has been fetched from the JWKS URL yet: the token cannot be judged.
    #[error(transparent)]
    KeysUnavailable(#[from] KeysUnavailable),
    /// Bad signature, algorithm, expiry, issuer, audience or encoding.
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

enum Keys {
    Fixed(DecodingKey),
    Jwks(Jwks),
}

/// Verifies tokens and returns their subject.
pub struct JwtVerifier {
    keys: Keys,
    algorithms: Algorithms,
    validation: Validation,
    subject_claim: String,
}

impl JwtVerifier {
    /// A verifier for `settings`; with a JWKS, its first fetch happens here. Fails only when
    /// the TLS client for the JWKS cannot be built.
    pub async fn new(settings: &JwtSettings) -> std::io::Result<Self> {
        Self::with_jwks_refresh(settings, JWKS_MIN_REFRESH).await
    }

    /// As [`JwtVerifier::new`], with another minimum time between JWKS fetches.
    pub async fn with_jwks_refresh(
        settings: &JwtSettings,
        min_refresh: Duration,
    ) -> std::io::Result<Self> {
        let keys = match &settings.keys {
            JwtKeys::Secret(secret) => Keys::Fixed(DecodingKey::from_secret(secret)),
            JwtKeys::PublicKey(key) => Keys::Fixed(key.clone()),
            JwtKeys::JwksUrl(url) => {
                Keys::Jwks(Jwks::new(url.clone(), min_refresh, settings.jwks_max_age).await?)
            }
        };
        Ok(Self {
            keys,
            algorithms: settings.algorithms.clone(),
            validation: validation(settings),
            subject_claim: settings.subject_claim.clone(),
        })
    }

    /// The subject of a valid token.
    pub async fn subject(&self, token: &str) -> Result<String, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLong);
        }
        let jwks_key;
        let (key, named) = match &self.keys {
            Keys::Fixed(key) => (key, None),
            Keys::Jwks(jwks) => {
                let kid = jsonwebtoken::decode_header(token)?.kid.ok_or(JwtError::MissingKeyId)?;
                jwks_key = jwks.key(&kid).await?.ok_or(JwtError::UnknownKeyId)?;
                (&jwks_key.key, jwks_key.algorithm)
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = self.algorithms.for_key(key.family(), named);
        if validation.algorithms.is_empty() {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)?.claims;
        match claims.get(&self.subject_claim) {
            Some(Value::String(subject)) if !subject.trim().is_empty() => Ok(subject.clone()),
            _ => Err(JwtError::NoSubject),
        }
    }
}

fn validation(settings: &JwtSettings) -> Validation {
    let algorithms = settings.algorithms.as_slice();
    let mut validation = Validation::new(algorithms[0]);
    validation.algorithms = algorithms.to_vec();
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if settings.subject_claim == "sub" {
        required.push("sub");
    }
    match &settings.issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &settings.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Claims of a token minted by [`mint`].
#[derive(Debug, Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Mints an HS256 token for `subject`, valid from `now` for `ttl_seconds`, with the
/// configured issuer and audience: for local use, fixtures and tests. `None` unless the
/// settings hold a secret.
pub fn mint(settings: &JwtSettings, subject: &str, now: u64, ttl_seconds: u64) -> Option<String> {
    let JwtKeys::Secret(secret) = &settings.keys else {
        return None;
    };
    let claims = MintedClaims {
        sub: subject,
        iat: now,
        exp: now + ttl_seconds,
        iss: settings.issuer.as_deref(),
        aud: settings.audience.as_deref(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of plain claims cannot fail");
    Some(token)
}
