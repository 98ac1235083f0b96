//! How `user-jwt-token` JWTs are checked: the key source, the accepted algorithms and the
//! required claims. `crate::config` fills these from the environment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// Where the keys that sign `user-jwt-token` JWTs come from: exactly one is configured.
#[derive(Clone)]
pub enum JwtKeys {
    /// A shared secret (`JWT_SECRET`), at least 32 bytes.
    Secret(Vec<u8>),
    /// One public key (`JWT_PUBLIC_KEY`, PEM), parsed at start-up.
    PublicKey(DecodingKey),
    /// An identity provider's key set (`JWT_JWKS_URL`), fetched at start-up.
    JwksUrl(String),
}

impl JwtKeys {
    /// The algorithm a key implies when `JWT_ALGORITHMS` is unset: HS256 for a secret,
    /// RS256 for a JWKS (what Cognito, Auth0 and Firebase sign with).
    pub fn implied_algorithm(&self) -> Algorithm {
        match self {
            Self::Secret(_) => Algorithm::HS256,
            Self::PublicKey(_) | Self::JwksUrl(_) => Algorithm::RS256,
        }
    }
}

/// A PEM public key and the algorithm its kind implies: RS256, ES256 or EdDSA.
pub fn parse_public_key(pem: &str) -> Option<(DecodingKey, Algorithm)> {
    // Deployment tools often flatten a PEM's line breaks into "\n".
    let pem = pem.replace("\\n", "\n");
    let pem = pem.as_bytes();
    DecodingKey::from_rsa_pem(pem)
        .map(|key| (key, Algorithm::RS256))
        .or_else(|_| DecodingKey::from_ec_pem(pem).map(|key| (key, Algorithm::ES256)))
        .or_else(|_| DecodingKey::from_ed_pem(pem).map(|key| (key, Algorithm::EdDSA)))
        .ok()
}

/// Accepted `alg` values (`RS256, PS256`), all known to `jsonwebtoken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithms(Vec<Algorithm>);

/// Why a list of algorithms was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAlgorithms(String);

impl Algorithms {
    /// The algorithms, in the order given.
    pub fn as_slice(&self) -> &[Algorithm] {
        &self.0
    }

    /// Checks that every algorithm suits `keys`: HMAC only with a secret, signatures only
    /// with public keys, so the two are never mixed (RFC 8725, section 3.1); with one
    /// public key, only its own family (RSA, EC or EdDSA). A JWKS may hold keys of several
    /// families; each token is checked with the algorithms of its key's family only.
    pub fn check_family(&self, keys: &JwtKeys) -> Result<(), InvalidAlgorithms> {
        let fits = |alg: &Algorithm| match keys {
            JwtKeys::Secret(_) => alg.family() == AlgorithmFamily::Hmac,
            JwtKeys::PublicKey(key) => alg.family() == key.family(),
            JwtKeys::JwksUrl(_) => alg.family() != AlgorithmFamily::Hmac,
        };
        if self.0.iter().all(fits) {
            return Ok(());
        }
        let family = match keys {
            JwtKeys::Secret(_) => "HS256, HS384 or HS512",
            JwtKeys::PublicKey(_) => "of the public key's own family (RS*/PS*, ES* or EdDSA)",
            JwtKeys::JwksUrl(_) => "asymmetric (RS*, PS*, ES*, EdDSA)",
        };
        Err(InvalidAlgorithms(format!("must be {family} for the configured key")))
    }

    /// The algorithms a token signed with a key of `family` may use; narrowed to `only`
    /// when the key itself names one (a JWK's `alg`).
    pub fn for_key(&self, family: AlgorithmFamily, only: Option<Algorithm>) -> Vec<Algorithm> {
        let allowed =
            |alg: &&Algorithm| alg.family() == family && only.is_none_or(|one| **alg == one);
        self.0.iter().filter(allowed).copied().collect()
    }
}

impl From<Algorithm> for Algorithms {
    fn from(algorithm: Algorithm) -> Self {
        Self(vec![algorithm])
    }
}

impl FromStr for Algorithms {
    type Err = InvalidAlgorithms;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let algorithms = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                Algorithm::from_str(name)
                    .map_err(|_| InvalidAlgorithms(format!("{name} is unknown")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err(InvalidAlgorithms("names no algorithm".to_owned()));
        }
        Ok(Self(algorithms))
    }
}

/// How JWTs in the `user-jwt-token` header are checked (RFC 8725): the algorithms come from
/// here, never from the token.
#[derive(Clone)]
pub struct JwtSettings {
    /// The key source.
    pub keys: JwtKeys,
    /// Accepted `alg` values (`JWT_ALGORITHMS`); by default the one the key implies.
    pub algorithms: Algorithms,
    /// Required `iss` (`JWT_ISSUER`), when set.
    pub issuer: Option<String>,
    /// Required `aud` (`JWT_AUDIENCE`), when set.
    pub audience: Option<String>,
    /// The claim holding the user id (`JWT_SUBJECT_CLAIM`, default `sub`).
    pub subject_claim: String,
    /// How long fetched JWKS keys are used before they are fetched again
    /// (`JWT_JWKS_MAX_AGE_SECONDS`).
    pub jwks_max_age: Duration,
}

impl JwtSettings {
    /// HS256 with `secret`, no issuer or audience: for local tools and tests.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_secret(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            keys: JwtKeys::Secret(secret.into()),
            algorithms: Algorithm::HS256.into(),
            issuer: None,
            audience: None,
            subject_claim: "sub".to_owned(),
            jwks_max_age: Duration::from_secs(3600),
        }
    }
}

/// Everything but the secret.
impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            JwtKeys::Secret(_) => "secret <redacted>".to_owned(),
            JwtKeys::PublicKey(_) => "public key".to_owned(),
            JwtKeys::JwksUrl(url) => format!("JWKS {url}"),
        };
        f.debug_struct("JwtSettings")
            .field("keys", &keys)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject_claim", &self.subject_claim)
            .field("jwks_max_age", &self.jwks_max_age)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_lists_parse_and_refuse_unknown_names() {
        let algorithms: Algorithms = "RS256, PS256,".parse().unwrap();
        assert_eq!(algorithms.as_slice(), [Algorithm::RS256, Algorithm::PS256]);
        assert_eq!("HS256,XS1".parse::<Algorithms>().unwrap_err().to_string(), "XS1 is unknown");
        assert!(" , ".parse::<Algorithms>().is_err());
    }

    #[test]
    fn hmac_and_signatures_never_mix() {
        let secret = JwtKeys::Secret(vec![0; 32]);
        let jwks = JwtKeys::JwksUrl("https://idp.example/jwks.json".into());
        let hmac: Algorithms = "HS256,HS512".parse().unwrap();
        let rsa: Algorithms = "RS256".parse().unwrap();
        let mixed: Algorithms = "HS256,RS256".parse().unwrap();
        assert!(hmac.check_family(&secret).is_ok());
        assert!(rsa.check_family(&jwks).is_ok());
        assert!(rsa.check_family(&secret).is_err());
        assert!(hmac.check_family(&jwks).is_err());
        assert!(mixed.check_family(&secret).is_err() && mixed.check_family(&jwks).is_err());

        let ec_pem = include_str!("../../../testkit/keys/ec-public.pem");
        let ec = JwtKeys::PublicKey(parse_public_key(ec_pem).unwrap().0);
        let two_families: Algorithms = "RS256,ES256".parse().unwrap();
        assert!(two_families.check_family(&ec).is_err(), "one public key, one family");
        assert!(two_families.check_family(&jwks).is_ok(), "a JWKS may hold both");
        assert!("ES256".parse::<Algorithms>().unwrap().check_family(&ec).is_ok());
    }

    #[test]
    fn each_token_is_checked_with_its_key_family_and_the_jwk_alg() {
        let configured: Algorithms = "RS256,PS256,ES256".parse().unwrap();
        let rsa = configured.for_key(AlgorithmFamily::Rsa, None);
        assert_eq!(rsa, [Algorithm::RS256, Algorithm::PS256]);
        let named = configured.for_key(AlgorithmFamily::Rsa, Some(Algorithm::PS256));
        assert_eq!(named, [Algorithm::PS256]);
        assert!(configured.for_key(AlgorithmFamily::Ed, None).is_empty());
    }

    #[test]
    fn pem_keys_imply_their_algorithm_with_or_without_flattened_lines() {
        let cases = [
            (include_str!("../../../testkit/keys/rsa-public.pem"), Algorithm::RS256),
            (include_str!("../../../testkit/keys/ec-public.pem"), Algorithm::ES256),
            (include_str!("../../../testkit/keys/ed-public.pem"), Algorithm::EdDSA),
        ];
        for (pem, implied) in cases {
            assert_eq!(parse_public_key(pem).map(|(_, alg)| alg), Some(implied));
            let flattened = pem.replace('\n', "\\n");
            assert_eq!(parse_public_key(&flattened).map(|(_, alg)| alg), Some(implied));
        }
        let garbage = "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----";
        assert!(parse_public_key(garbage).is_none());
    }
}
