//! Reads the environment, once at start-up, into the typed settings the rest of the crate
//! applies ([`Policy`], [`JwtSettings`], the hash key). Reading is all this module does; a
//! missing or bad value names its variable, and a variable with a default takes it from
//! [`DEFAULTS`], nowhere else.

mod aws;
mod defaults;
mod examples;
mod jwt;
mod messages;
mod policy;
mod read;
#[cfg(test)]
mod tests;

use std::fmt::Display;

pub use self::aws::{AwsSettings, SECRET_VARIABLES, check_without_aws};
pub use self::defaults::DEFAULTS;
pub use self::examples::ALLOW_EXAMPLE_SECRETS;
pub use self::read::{optional, optional_parse, parse_in, parse_or, required};

use self::defaults::parse_default_in;
use crate::jwt::JwtSettings;
use crate::keyed_hash::HashKey;
use crate::otp::Policy;
use crate::verification_token::VerificationTokens;

/// A setting that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable must be set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// The variable's value is not acceptable, for `reason`.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it; never the value itself, which may be a secret.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(name: &'static str, reason: impl Display) -> Self {
        Self::Invalid { name, reason: reason.to_string() }
    }
}

/// Everything the API needs, read from one environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The OTP policy.
    pub policy: Policy,
    /// How `user-jwt-token` is checked.
    pub jwt: JwtSettings,
    /// Key for the HMAC of codes and identifiers (`OTP_HASH_KEY`), at least 32 bytes.
    pub hash_key: HashKey,
    /// The signer of verification tokens (`VERIFICATION_TOKEN_*`), when a key is set.
    pub verification_tokens: Option<VerificationTokens>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which maps a variable name to its value.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        examples::refuse_example_secrets(lookup)?;
        let hash_key = HashKey::new(required(lookup, "OTP_HASH_KEY")?)
            .map_err(|short| ConfigError::invalid("OTP_HASH_KEY", short))?;
        Ok(Self {
            policy: Policy::from_lookup(lookup)?,
            jwt: JwtSettings::from_lookup(lookup)?,
            hash_key,
            verification_tokens: verification_tokens(lookup)?,
        })
    }
}

/// The verification token signer, when `VERIFICATION_TOKEN_PRIVATE_KEY` is set; its
/// issuer is then required.
fn verification_tokens(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<VerificationTokens>, ConfigError> {
    let Some(pem) = optional(lookup, "VERIFICATION_TOKEN_PRIVATE_KEY") else {
        return Ok(None);
    };
    let issuer = required(lookup, "VERIFICATION_TOKEN_ISSUER")?;
    let audience = optional(lookup, "VERIFICATION_TOKEN_AUDIENCE");
    let ttl: u64 = parse_default_in(lookup, "VERIFICATION_TOKEN_TTL_SECONDS", 1..=86_400)?;
    VerificationTokens::from_pem(&pem, issuer, audience, ttl)
        .map(Some)
        .map_err(|error| ConfigError::invalid("VERIFICATION_TOKEN_PRIVATE_KEY", error))
}
