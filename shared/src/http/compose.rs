//! The composition root: the API from its settings over a store and a sender, the same for
//! the Lambda functions and `otp-local`, which differ only in the adapters they pass.

use super::Api;
use crate::config::{ConfigError, Settings};
use crate::jwt::JwtVerifier;
use crate::otp::OtpService;
use crate::otp::ports::{ChallengeStore, MessageSender};
use crate::system::{OsRandom, SystemClock};

impl<S: ChallengeStore, M: MessageSender> Api<S, M, SystemClock, OsRandom> {
    /// The API over `store` and `sender`, on the system clock and the operating system's
    /// random source. Fails, naming `JWT_JWKS_URL`, when the JWT check cannot start.
    pub async fn from_settings(
        settings: Settings,
        store: S,
        sender: M,
    ) -> Result<Self, ConfigError> {
        let otp = OtpService::new(
            store,
            sender,
            SystemClock,
            OsRandom,
            settings.policy,
            settings.hash_key,
        )
        .with_verification_tokens(settings.verification_tokens);
        let jwt = JwtVerifier::new(&settings.jwt).await.map_err(|error| ConfigError::Invalid {
            name: "JWT_JWKS_URL",
            reason: error.to_string(),
        })?;
        Ok(Self::new(jwt, otp))
    }
}
