//! [`OtpService`]: the OTP policy over the ports. Sending is in `send`, checking in `verify`,
//! and what the service asks of the conversion breaker in `breaker`.

mod breaker;
mod send;
mod verify;

use std::net::IpAddr;

use super::ports::{ChallengeStore, Clock, MessageSender, RandomSource};
use crate::keyed_hash::HashKey;
use crate::otp::policy::Policy;
use crate::phone::PhoneNumber;
use crate::telemetry::AUDIT;
use crate::verification_token::VerificationTokens;

/// Who asks for a code, for which phone, from where.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    /// The JWT subject the code will be bound to.
    pub subject: &'a str,
    /// The phone the code goes to.
    pub phone: &'a PhoneNumber,
    /// The caller's address, for the per-IP limit; `None` skips that limit.
    pub client_ip: Option<IpAddr>,
    /// The languages the caller asked for, best first (its `locale`, then
    /// `Accept-Language`).
    pub locales: &'a [String],
}

/// A code on its way: what the client gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    /// The handle the client must present with the code.
    pub auth_code: String,
    /// Whether the phone has never been verified.
    pub is_new_user: bool,
    /// Seconds the code verifies for.
    pub expires_in: u64,
    /// Seconds until the subject may be sent another code for this phone.
    pub resend_after: u64,
}

/// A code to check. Digits are already normalised to the configured lengths.
#[derive(Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The JWT subject checking the code.
    pub subject: &'a str,
    /// The phone the code was sent to.
    pub phone: &'a PhoneNumber,
    /// The `authCode` the subject was given.
    pub auth_code: &'a str,
    /// The code from the SMS.
    pub code: &'a str,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed verification token, when a signing key is configured.
    pub token: Option<String>,
}

/// Issues and verifies one-time codes sent by SMS.
pub struct OtpService<S, M, C, R> {
    store: S,
    sender: M,
    clock: C,
    random: R,
    policy: Policy,
    key: HashKey,
    tokens: Option<VerificationTokens>,
}

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// The service; warns once when test numbers are configured, since they bypass SMS, and
    /// when codes may go to every country, which SMS pumping feeds on.
    pub fn new(store: S, sender: M, clock: C, random: R, policy: Policy, key: HashKey) -> Self {
        if policy.allowed_countries.is_none() {
            tracing::warn!(
                "OTP_ALLOWED_COUNTRIES allows every country: list the countries your users are in"
            );
        }
        if !policy.test_numbers.is_empty() {
            tracing::warn!(
                test_numbers = policy.test_numbers.len(),
                "OTP_TEST_NUMBERS is set: those numbers verify with fixed codes and get no SMS"
            );
        }
        Self { store, sender, clock, random, policy, key, tokens: None }
    }

    /// The same service, answering each successful verification with a token from `tokens`.
    pub fn with_verification_tokens(self, tokens: Option<VerificationTokens>) -> Self {
        Self { tokens, ..self }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The verification token signer, when one is configured.
    pub fn verification_tokens(&self) -> Option<&VerificationTokens> {
        self.tokens.as_ref()
    }
}

impl<S, M, C, R> OtpService<S, M, C, R> {
    /// The span every lifecycle event of one request is logged in: the masked phone, its
    /// country and the first 16 hex digits of the subject's pseudonym, never the code.
    fn audit_span(&self, phone: &PhoneNumber, subject_key: &str) -> tracing::Span {
        let subject = &subject_key[..16];
        tracing::info_span!(target: AUDIT, "otp", phone = %phone, country = phone.region(), subject)
    }

    fn phone_key(&self, phone: &PhoneNumber) -> String {
        self.key.pseudonym("phone", phone.e164())
    }
}
