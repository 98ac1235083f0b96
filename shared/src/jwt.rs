//! The `user-jwt-token` check (RFC 8725): one algorithm fixed by configuration, `exp` and
//! `sub` required, `nbf` honoured, `iss` and `aud` enforced when configured.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtSettings;

/// Tokens longer than this are refused before any parsing; real ones are far shorter.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused. Callers answer every variant with the same 401.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("subject claim is empty")]
    EmptySubject,
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Verifies tokens and returns their subject.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    /// A verifier for HS256 tokens signed with the configured secret.
    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
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
        Self { key: DecodingKey::from_secret(&settings.secret), validation }
    }

    /// The subject of a valid token.
    pub fn subject(&self, token: &str) -> Result<String, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLong);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?.claims;
        if claims.sub.trim().is_empty() {
            return Err(JwtError::EmptySubject);
        }
        Ok(claims.sub)
    }
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

/// Mints an HS256 token for `subject` valid from `now` for `ttl_seconds`, with the
/// configured issuer and audience: for local use, fixtures and tests.
pub fn mint(settings: &JwtSettings, subject: &str, now: u64, ttl_seconds: u64) -> String {
    let claims = MintedClaims {
        sub: subject,
        iat: now,
        exp: now + ttl_seconds,
        iss: settings.issuer.as_deref(),
        aud: settings.audience.as_deref(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&settings.secret),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::otp::ports::Clock;
    use crate::system::SystemClock;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: b"test-secret-test-secret-test-secret".to_vec(),
            issuer: None,
            audience: None,
        }
    }

    fn now() -> u64 {
        SystemClock.now()
    }

    fn sign(settings: &JwtSettings, alg: Algorithm, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(&settings.secret),
        )
        .unwrap()
    }

    #[test]
    fn minted_token_yields_its_subject() {
        let settings = settings();
        let token = mint(&settings, "alice", now(), 60);
        assert_eq!(JwtVerifier::new(&settings).subject(&token).unwrap(), "alice");
    }

    #[test]
    fn expired_token_is_refused() {
        let settings = settings();
        let token = mint(&settings, "alice", now() - 3600, 60);
        assert!(JwtVerifier::new(&settings).subject(&token).is_err());
    }

    #[test]
    fn token_without_exp_or_sub_is_refused() {
        let settings = settings();
        let verifier = JwtVerifier::new(&settings);
        let no_exp = sign(&settings, Algorithm::HS256, json!({"sub": "alice"}));
        let no_sub = sign(&settings, Algorithm::HS256, json!({"exp": now() + 60}));
        let empty_sub = sign(&settings, Algorithm::HS256, json!({"sub": " ", "exp": now() + 60}));
        for token in [no_exp, no_sub, empty_sub] {
            assert!(verifier.subject(&token).is_err(), "{token}");
        }
    }

    #[test]
    fn token_not_yet_valid_is_refused() {
        let settings = settings();
        let token = sign(
            &settings,
            Algorithm::HS256,
            json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}),
        );
        assert!(JwtVerifier::new(&settings).subject(&token).is_err());
    }

    #[test]
    fn other_algorithms_and_secrets_are_refused() {
        let settings = settings();
        let verifier = JwtVerifier::new(&settings);
        let claims = json!({"sub": "alice", "exp": now() + 60});
        let hs512 = sign(&settings, Algorithm::HS512, claims.clone());
        let other_secret =
            JwtSettings { secret: b"another-secret-another-secret-!!".to_vec(), ..settings };
        let forged = sign(&other_secret, Algorithm::HS256, claims);
        for token in [hs512, forged] {
            assert!(verifier.subject(&token).is_err(), "{token}");
        }
    }

    #[test]
    fn unsigned_token_is_refused() {
        // {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":4102444800} . (no signature)
        let token =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.";
        assert!(JwtVerifier::new(&settings()).subject(token).is_err());
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let settings = JwtSettings {
            issuer: Some("https://issuer.example".into()),
            audience: Some("otp-api".into()),
            ..settings()
        };
        let verifier = JwtVerifier::new(&settings);
        assert_eq!(verifier.subject(&mint(&settings, "alice", now(), 60)).unwrap(), "alice");
        let exp = now() + 60;
        let cases = [
            json!({"sub": "a", "exp": exp, "aud": "otp-api"}),
            json!({"sub": "a", "exp": exp, "iss": "https://issuer.example"}),
            json!({"sub": "a", "exp": exp, "iss": "https://evil.example", "aud": "otp-api"}),
            json!({"sub": "a", "exp": exp, "iss": "https://issuer.example", "aud": "other"}),
        ];
        for claims in cases {
            let token = sign(&settings, Algorithm::HS256, claims.clone());
            assert!(verifier.subject(&token).is_err(), "{claims}");
        }
    }

    #[test]
    fn oversized_token_is_refused_before_parsing() {
        let token = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(JwtVerifier::new(&settings()).subject(&token), Err(JwtError::TooLong)));
    }
}
