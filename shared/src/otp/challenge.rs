//! The values the service and a [`ChallengeStore`](super::ports::ChallengeStore) exchange:
//! challenges, the writes of a send and a check, and what each did.

use std::error::Error;

use super::breaker::Destination;
use super::breaker::Reading;
use super::limits::{Counter, CounterKind};
use super::time::EpochSeconds;

/// The store failed in a way no caller can fix: unreachable, throttled, busy, or returning
/// something it should not.
#[derive(Debug, thiserror::Error)]
#[error("challenge store failed")]
pub struct StoreError(#[source] pub Box<dyn Error + Send + Sync>);

impl StoreError {
    /// Wraps any error of an adapter.
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// A pending code, one per (phone, subject): the code itself only as a keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Random identifier of this challenge; a resend makes a new one.
    pub id: String,
    /// Pseudonym of the phone number.
    pub phone_key: String,
    /// Pseudonym of the JWT subject that asked for it; nobody else can see or spend it.
    pub subject_key: String,
    /// HMAC of the code bound to the phone, the subject and the auth code.
    pub code_digest: Vec<u8>,
    /// The first second at which the code no longer verifies.
    pub expires_at: EpochSeconds,
    /// The first second at which this subject may be sent another code for this phone.
    pub resend_after: EpochSeconds,
    /// Attempts counted so far, right or wrong.
    pub attempts: u32,
    /// Whether the code has verified once already.
    pub used: bool,
    /// Whether the breaker tallied this send, so that its verification is tallied too:
    /// false for a verified owner's send and a test number's, which the breaker does not
    /// judge.
    pub tallied: bool,
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
    /// The caller has no challenge for this phone.
    NoChallenge,
    /// The code has verified already.
    Used,
    /// The code is past its expiry.
    Expired,
    /// The challenge has used up its attempts.
    Locked,
}

/// A send to reserve: the new challenge and the counters it must fit in.
#[derive(Debug, Clone, Copy)]
pub struct Issue<'a> {
    /// The challenge that replaces the subject's pending one for this phone.
    pub challenge: &'a Challenge,
    /// Every counter the send is counted in.
    pub counters: &'a [Counter],
    /// The time of the request.
    pub now: EpochSeconds,
    /// Whether the subject sends as the phone's verified owner: the
    /// [`CounterKind::Phone`] counter then counts without limiting, and the store checks,
    /// atomically, that the phone's verified owner is still `challenge.subject_key`.
    pub as_verified_owner: bool,
}

/// What [`ChallengeStore::issue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// The challenge is stored and every counter was incremented.
    Issued,
    /// Nothing changed.
    Refused(SendRefusal),
}

/// Why a send was refused, and until when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendRefusal {
    /// When a send may succeed again: the latest end of the limits that refused it.
    pub retry_at: EpochSeconds,
    /// The subject's challenge for this phone is within its resend cooldown.
    pub cooldown: bool,
    /// The counters that are full.
    pub full: Vec<FullCounter>,
    /// `as_verified_owner` was set but the subject is not (or no longer) the owner.
    pub not_owner: bool,
}

/// A counter that refused a send, with what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullCounter {
    /// What it counts.
    pub kind: CounterKind,
    /// Its count when it refused.
    pub count: u32,
}

/// A challenge to withdraw after its request failed.
#[derive(Debug, Clone, Copy)]
pub struct Withdrawal<'a> {
    /// The challenge; it is taken back only if it is still the stored one, and the
    /// subject's challenge it replaced (if that one could still verify) is put back.
    pub challenge: &'a Challenge,
    /// Counters to decrement once the challenge is taken back, each on its own: a counter
    /// that is gone (its window ended) refunds nothing and stops no other refund.
    pub refund: &'a [Counter],
}

/// A code to check against the subject's challenge for a phone.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// Pseudonym of the phone.
    pub phone_key: &'a str,
    /// Pseudonym of the subject checking.
    pub subject_key: &'a str,
    /// The digest the submitted code, auth code, phone and subject hash to.
    pub code_digest: &'a [u8],
    /// The time of the request.
    pub now: EpochSeconds,
    /// Attempts a challenge allows.
    pub max_attempts: u32,
    /// A random identifier of this check, so that a retried write counts once.
    pub attempt_id: &'a str,
    /// Whether a right code makes the subject the phone's verified owner (not for test
    /// numbers).
    pub record_owner: bool,
    /// The subject's counter of wrong codes; when full, nothing is checked or changed.
    pub failures: Option<&'a Counter>,
    /// Where the breaker tallies a right code (in the bucket of `now`); empty for none.
    /// The tally counts only when this check uses the challenge (a store may write it
    /// alongside that write and take it back when the check ends otherwise). Like
    /// [`ChallengeStore::tally`], at most once, and a failure does not fail the check.
    pub tally: &'a [Destination],
}

/// What [`ChallengeStore::check`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The code was right: the challenge is used, and (with `record_owner`) the subject
    /// is the phone's verified owner.
    Verified {
        /// Another subject was the phone's verified owner before.
        reassigned: bool,
    },
    /// The code was wrong: one attempt and one failure were counted.
    WrongCode {
        /// Attempts the challenge has left after this one; 0 when it used up the budget.
        attempts_left: u32,
    },
    /// Nothing was counted.
    Refused(AttemptRefusal),
    /// The subject's failure counter is full until `retry_at`; nothing was counted.
    TooManyFailures {
        /// When the counter's window ends.
        retry_at: EpochSeconds,
    },
}

/// What [`ChallengeStore::send_readings`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReadings {
    /// The phone's verification record, if it has ever verified.
    pub verified: Option<VerifiedPhone>,
    /// The breaker's reading of each destination, in their order.
    pub readings: Vec<Reading>,
}

/// A phone that has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPhone {
    /// Pseudonym of the subject that verified it last; `None` for records from before
    /// owners were kept.
    pub owner: Option<String>,
}
