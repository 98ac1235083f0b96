//! The OTP policy as plain Rust over the ports in [`ports`]: issuing codes within the send
//! limits, and verifying them once, within their lifetime and attempt budget.

pub mod destinations;
mod policy;
pub mod ports;

use std::net::IpAddr;

use tracing::Instrument;

use ports::{
    AttemptClaim, AttemptRefusal, Challenge, ChallengeStore, Clock, EpochSeconds, IssueOutcome,
    RandomSource, SendCounter, SmsError, SmsSender, StoreError,
};

pub use policy::{DEFAULT_MESSAGE_TEMPLATE, DestinationRefusal, Policy};

use crate::phone::PhoneNumber;
use crate::secret::{CodeBinding, HashKey};

/// Length of the fixed windows the hourly send limits count in.
const SEND_WINDOW_SECONDS: u64 = 3600;

/// An expected refusal, or an unexpected failure of a dependency. Its `Display` is the
/// message the client reads; details of a failure stay in its source, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// A send limit or the resend cooldown holds until `retry_after_seconds` have passed.
    #[error("Too many codes requested; retry in {retry_after_seconds} seconds")]
    RateLimited {
        /// Seconds until a send may succeed.
        retry_after_seconds: u64,
    },
    /// Codes are not sent to this phone's country (`OTP_ALLOWED_COUNTRIES`).
    #[error("Codes are not sent to this country")]
    CountryNotAllowed,
    /// Codes are not sent to this kind of line (`OTP_BLOCKED_NUMBER_TYPES`).
    #[error("Codes are only sent to numbers that can receive SMS, such as mobiles")]
    UnsupportedNumberType,
    /// The phone has no pending code.
    #[error("No code is pending for this phone number; request a new one")]
    NoPendingCode,
    /// The code, auth code or subject does not match the pending challenge.
    #[error("The otp or authCode is not valid")]
    WrongCode,
    /// The code is past its expiry.
    #[error("The code has expired; request a new one")]
    Expired,
    /// The code has verified already.
    #[error("The code has already been used; request a new one")]
    AlreadyUsed,
    /// The challenge has used up its attempts.
    #[error("Too many wrong attempts; request a new code")]
    TooManyAttempts,
    /// The SMS provider refused or failed; nothing usable was left behind.
    #[error("The SMS could not be sent; try again shortly")]
    SmsUnavailable(#[source] SmsError),
    /// The store failed.
    #[error("Internal error; try again shortly")]
    Store(#[from] StoreError),
}

impl From<DestinationRefusal> for OtpError {
    fn from(refusal: DestinationRefusal) -> Self {
        match refusal {
            DestinationRefusal::CountryNotAllowed => Self::CountryNotAllowed,
            DestinationRefusal::UnsupportedNumberType => Self::UnsupportedNumberType,
        }
    }
}

impl From<AttemptRefusal> for OtpError {
    fn from(refusal: AttemptRefusal) -> Self {
        match refusal {
            AttemptRefusal::NoChallenge => Self::NoPendingCode,
            AttemptRefusal::Used => Self::AlreadyUsed,
            AttemptRefusal::Expired => Self::Expired,
            AttemptRefusal::Locked => Self::TooManyAttempts,
        }
    }
}

/// Who asks for a code, for which phone, from where.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    /// The JWT subject the code will be bound to.
    pub subject: &'a str,
    /// The phone the code goes to.
    pub phone: &'a PhoneNumber,
    /// The caller's address, for the per-IP limit; `None` skips that limit.
    pub client_ip: Option<IpAddr>,
}

/// A code on its way: what the client gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    /// The handle the client must present with the code.
    pub auth_code: String,
    /// Whether the phone has never been verified.
    pub is_new_user: bool,
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

/// Issues and verifies one-time codes sent by SMS.
pub struct OtpService<S, M, C, R> {
    store: S,
    sms: M,
    clock: C,
    random: R,
    policy: Policy,
    key: HashKey,
}

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: SmsSender,
    C: Clock,
    R: RandomSource,
{
    /// The service; warns once when test numbers are configured, since they bypass SMS.
    pub fn new(store: S, sms: M, clock: C, random: R, policy: Policy, key: HashKey) -> Self {
        if !policy.test_numbers.is_empty() {
            tracing::warn!(
                test_numbers = policy.test_numbers.len(),
                "OTP_TEST_NUMBERS is set: those numbers verify with fixed codes and get no SMS"
            );
        }
        Self { store, sms, clock, random, policy, key }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sends a fresh code to the phone, replacing any pending one, unless the destination is
    /// refused or a send limit holds. Register and resend are both this: neither can skip
    /// the other's limits. A test number gets its fixed code and no SMS.
    pub async fn send_code(&self, request: SendRequest<'_>) -> Result<CodeSent, OtpError> {
        let subject_key = self.key.pseudonym("subject", request.subject);
        let span = self.audit_span(request.phone, &subject_key);
        async {
            if let Some(refusal) = self.policy.destination_refusal(request.phone) {
                tracing::info!(event = "otp.refused", reason = ?refusal);
                return Err(refusal.into());
            }
            let test_code = self.policy.test_code(request.phone);
            let code = match test_code {
                Some(fixed) => fixed.to_owned(),
                None => self.random.digits(self.policy.code_length),
            };
            let now = self.clock.now();
            let (challenge, auth_code) = self.new_challenge(&request, &code, now);
            let is_new_user = self.reserve(&request, &challenge, &subject_key, now).await?;
            if test_code.is_some() {
                tracing::info!(event = "otp.sent", is_new_user, test_number = true);
            } else {
                self.deliver(request.phone, &challenge, &code).await?;
                tracing::info!(event = "otp.sent", is_new_user);
            }
            Ok(CodeSent { auth_code, is_new_user })
        }
        .instrument(span)
        .await
    }

    /// A challenge for `code` bound to the caller, and the `authCode` that goes with it.
    fn new_challenge(
        &self,
        request: &SendRequest<'_>,
        code: &str,
        now: EpochSeconds,
    ) -> (Challenge, String) {
        let auth_code = self.random.digits(self.policy.auth_code_length);
        let id = self.random.identifier();
        let binding = CodeBinding {
            challenge_id: &id,
            phone_e164: request.phone.e164(),
            subject: request.subject,
            auth_code: &auth_code,
        };
        let challenge = Challenge {
            code_digest: self.key.code_digest(&binding, code),
            id,
            phone_key: self.phone_key(request.phone),
            expires_at: now + self.policy.code_ttl_seconds,
            resend_after: now + self.policy.resend_cooldown_seconds,
            attempts: 0,
            used: false,
        };
        (challenge, auth_code)
    }

    /// Makes `challenge` the phone's current one within the send limits; returns whether
    /// the phone is new (never verified).
    async fn reserve(
        &self,
        request: &SendRequest<'_>,
        challenge: &Challenge,
        subject_key: &str,
        now: EpochSeconds,
    ) -> Result<bool, OtpError> {
        let counters = self.send_counters(request, &challenge.phone_key, subject_key, now);
        let is_new_user = !self.store.is_verified(&challenge.phone_key).await?;
        if let IssueOutcome::Refused { retry_at } =
            self.store.issue(challenge, &counters, now).await?
        {
            let retry_after_seconds = retry_at.saturating_sub(now).max(1);
            tracing::info!(event = "otp.rate_limited", retry_after_seconds);
            return Err(OtpError::RateLimited { retry_after_seconds });
        }
        Ok(is_new_user)
    }

    /// Sends the code by SMS; when that fails, withdraws the challenge so that neither the
    /// code nor its cooldown outlives it.
    async fn deliver(
        &self,
        phone: &PhoneNumber,
        challenge: &Challenge,
        code: &str,
    ) -> Result<(), OtpError> {
        let Err(error) = self.sms.send(phone, &self.policy.message(code)).await else {
            return Ok(());
        };
        tracing::error!(event = "otp.sms_failed", error = ?error);
        if let Err(store_error) = self.store.withdraw(&challenge.phone_key, &challenge.id).await {
            tracing::error!(event = "otp.withdraw_failed", error = %store_error);
        }
        Err(OtpError::SmsUnavailable(error))
    }

    /// Checks a code against the phone's pending challenge. Every check counts against the
    /// attempt budget; the right code verifies once and records the phone as verified.
    pub async fn verify_code(&self, request: VerifyRequest<'_>) -> Result<(), OtpError> {
        let span = self.audit_span(request.phone, &self.key.pseudonym("subject", request.subject));
        async {
            let now = self.clock.now();
            let phone_key = self.phone_key(request.phone);
            let challenge =
                match self.store.claim_attempt(&phone_key, now, self.policy.max_attempts).await? {
                    AttemptClaim::Granted(challenge) => challenge,
                    AttemptClaim::Refused(refusal) => {
                        tracing::info!(event = "otp.failed", reason = ?refusal);
                        return Err(refusal.into());
                    }
                };
            let binding = CodeBinding {
                challenge_id: &challenge.id,
                phone_e164: request.phone.e164(),
                subject: request.subject,
                auth_code: request.auth_code,
            };
            if !self.key.code_matches(&binding, request.code, &challenge.code_digest) {
                let attempts_left = self.policy.max_attempts.saturating_sub(challenge.attempts);
                let event = if attempts_left == 0 { "otp.locked" } else { "otp.failed" };
                tracing::info!(event, attempts_left);
                return Err(OtpError::WrongCode);
            }
            if !self.store.complete(&phone_key, &challenge.id, now).await? {
                tracing::info!(event = "otp.failed", reason = "used");
                return Err(OtpError::AlreadyUsed);
            }
            tracing::info!(event = "otp.verified");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// The span every lifecycle event of one request is logged in: the masked phone, its
    /// country and the first 16 hex digits of the subject's pseudonym, never the code.
    fn audit_span(&self, phone: &PhoneNumber, subject_key: &str) -> tracing::Span {
        let subject = &subject_key[..16];
        tracing::info_span!("otp", phone = %phone, country = phone.region(), subject)
    }

    fn phone_key(&self, phone: &PhoneNumber) -> String {
        self.key.pseudonym("phone", phone.e164())
    }

    /// The hourly counters this send must fit in; disabled limits (0) have none.
    fn send_counters(
        &self,
        request: &SendRequest<'_>,
        phone_key: &str,
        subject_key: &str,
        now: EpochSeconds,
    ) -> Vec<SendCounter> {
        let window_start = now - now % SEND_WINDOW_SECONDS;
        let resets_at = window_start + SEND_WINDOW_SECONDS;
        let ip_key = request.client_ip.map(|ip| self.key.pseudonym("ip", &ip.to_string()));
        [
            ("phone", Some(phone_key.to_owned()), self.policy.max_sends_per_phone_per_hour),
            ("subject", Some(subject_key.to_owned()), self.policy.max_sends_per_subject_per_hour),
            ("ip", ip_key, self.policy.max_sends_per_ip_per_hour),
        ]
        .into_iter()
        .filter(|(_, _, limit)| *limit > 0)
        .filter_map(|(kind, key, limit)| {
            Some(SendCounter { key: format!("{kind}#{}#{window_start}", key?), limit, resets_at })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests;
