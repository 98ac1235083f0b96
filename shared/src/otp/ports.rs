//! The ports the OTP service drives: a challenge store, an SMS sender, a clock and a random
//! source. No AWS type appears here; adapters live in `crate::store` and `crate::sms`.
//!
//! Every port is a cheap `Clone` handle (`Clone + Send + Sync + 'static`), so a caller that
//! needs the same store or inbox as the service clones it; no `Arc` wrappers are needed.

use std::error::Error;
use std::future::Future;

use crate::phone::PhoneNumber;

/// Seconds since the Unix epoch.
pub type EpochSeconds = u64;

/// The current time.
pub trait Clock: Clone + Send + Sync + 'static {
    /// Seconds since the Unix epoch, now.
    fn now(&self) -> EpochSeconds;
}

/// Unpredictable values from a cryptographically secure generator.
pub trait RandomSource: Clone + Send + Sync + 'static {
    /// `len` decimal digits, each uniformly distributed.
    fn digits(&self, len: usize) -> String;
    /// An identifier nobody can guess (128 bits, hex).
    fn identifier(&self) -> String;
}

/// Delivers a text message.
pub trait SmsSender: Clone + Send + Sync + 'static {
    /// Hands `body` to the provider for delivery to `to`.
    fn send(
        &self,
        to: &PhoneNumber,
        body: &str,
    ) -> impl Future<Output = Result<(), SmsError>> + Send;
}

/// The provider did not accept the message.
#[derive(Debug, thiserror::Error)]
#[error("SMS was not sent")]
pub struct SmsError(#[source] pub Box<dyn Error + Send + Sync>);

/// The store failed in a way no caller can fix (network, throttling, a bug).
#[derive(Debug, thiserror::Error)]
#[error("challenge store failed")]
pub struct StoreError(#[source] pub Box<dyn Error + Send + Sync>);

impl StoreError {
    /// Wraps any error of an adapter.
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// The phone's pending code, as stored: the code itself only as a keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Random identifier of this challenge; a resend makes a new one.
    pub id: String,
    /// Pseudonym of the phone number; one current challenge per phone.
    pub phone_key: String,
    /// HMAC of the code bound to the id, phone, subject and auth code.
    pub code_digest: Vec<u8>,
    /// The first second at which the code no longer verifies.
    pub expires_at: EpochSeconds,
    /// The first second at which another code may be sent to this phone.
    pub resend_after: EpochSeconds,
    /// Attempts counted so far, right or wrong.
    pub attempts: u32,
    /// Whether the code has verified once already.
    pub used: bool,
}

impl Challenge {
    /// Why no attempt may be made on this challenge at `now`, or `None` when one may.
    /// Every store applies exactly this rule, atomically with counting the attempt.
    pub fn refusal(&self, now: EpochSeconds, max_attempts: u32) -> Option<AttemptRefusal> {
        if self.used {
            Some(AttemptRefusal::Used)
        } else if now >= self.expires_at {
            Some(AttemptRefusal::Expired)
        } else if self.attempts >= max_attempts {
            Some(AttemptRefusal::Locked)
        } else {
            None
        }
    }

    /// When the store may forget this challenge: once it can neither verify nor hold off a
    /// resend.
    pub fn forget_after(&self) -> EpochSeconds {
        self.expires_at.max(self.resend_after)
    }
}

/// Why an attempt was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptRefusal {
    /// The phone has no challenge.
    NoChallenge,
    /// The code has verified already.
    Used,
    /// The code is past its expiry.
    Expired,
    /// The challenge has used up its attempts.
    Locked,
}

/// One fixed-window send counter, such as "codes to this phone in this hour".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCounter {
    /// What is counted and in which window, e.g. `phone#<pseudonym>#<window start>`.
    pub key: String,
    /// Sends allowed in the window.
    pub limit: u32,
    /// When the window ends and the counter may be forgotten.
    pub resets_at: EpochSeconds,
}

/// What [`ChallengeStore::issue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    /// The challenge is now the phone's current one and every counter was incremented.
    Issued,
    /// Nothing changed: the phone is cooling down or a counter is full until `retry_at`.
    Refused {
        /// When a send may succeed again.
        retry_at: EpochSeconds,
    },
}

/// What [`ChallengeStore::claim_attempt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptClaim {
    /// The attempt was counted; the challenge as it now is.
    Granted(Challenge),
    /// Nothing changed.
    Refused(AttemptRefusal),
}

/// Where challenges, send counters and verified phones live. Each method is atomic, also
/// against concurrent calls from other processes.
pub trait ChallengeStore: Clone + Send + Sync + 'static {
    /// Unless the phone's current challenge has `resend_after > now` or a counter has
    /// reached its limit, increments every counter and makes `challenge` the phone's
    /// current challenge, replacing any other.
    fn issue(
        &self,
        challenge: &Challenge,
        counters: &[SendCounter],
        now: EpochSeconds,
    ) -> impl Future<Output = Result<IssueOutcome, StoreError>> + Send;

    /// Deletes the phone's challenge if it is still `challenge_id` (its SMS was not sent),
    /// so neither the code nor the cooldown outlives it.
    fn withdraw(
        &self,
        phone_key: &str,
        challenge_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counts one attempt on the phone's current challenge unless
    /// [`Challenge::refusal`] refuses it.
    fn claim_attempt(
        &self,
        phone_key: &str,
        now: EpochSeconds,
        max_attempts: u32,
    ) -> impl Future<Output = Result<AttemptClaim, StoreError>> + Send;

    /// Marks the challenge used and the phone verified, if `challenge_id` is still the
    /// phone's current, unused challenge. Returns whether it was.
    fn complete(
        &self,
        phone_key: &str,
        challenge_id: &str,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether the phone has ever completed a challenge.
    fn is_verified(&self, phone_key: &str)
    -> impl Future<Output = Result<bool, StoreError>> + Send;
}
