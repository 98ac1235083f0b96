//! The ports the OTP service drives: a challenge store, an SMS sender, a clock and a random
//! source. No AWS type appears here; adapters live in `crate::store` and `crate::sms`.
//!
//! Every port is a cheap `Clone` handle (`Clone + Send + Sync + 'static`), so a caller that
//! needs the same store or inbox as the service clones it; no `Arc` wrappers are needed.

use std::error::Error;
use std::future::Future;

use super::breaker::{Destination, Reading, Tallied};
use super::message::Sms;
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
    /// Hands `sms` to the provider for delivery to `to`.
    fn send(
        &self,
        to: &PhoneNumber,
        sms: &Sms,
    ) -> impl Future<Output = Result<SmsReceipt, SmsError>> + Send;
}

/// What the provider said when it took a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The provider's id of the message (SNS's `MessageId`), to match with its delivery
    /// records.
    pub message_id: Option<String>,
}

/// The provider did not take the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SMS was not sent ({delivery:?}): {reason}")]
pub struct SmsError {
    /// Whether the message may still arrive.
    pub delivery: Delivery,
    /// The provider's error code, or the kind of transport failure; never the provider's
    /// message, which may quote the phone number.
    pub reason: String,
}

impl SmsError {
    /// The provider answered with a refusal, or was never reached: the message will not
    /// arrive.
    pub fn not_sent(reason: impl Into<String>) -> Self {
        Self { delivery: Delivery::NotSent, reason: reason.into() }
    }

    /// The request may have reached the provider (a timeout, a dropped connection): the
    /// message may arrive.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self { delivery: Delivery::Unknown, reason: reason.into() }
    }
}

/// What is known of a message whose send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The provider refused it or was never reached.
    NotSent,
    /// It may have been accepted.
    Unknown,
}

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

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CounterKind {
    /// Codes sent to one phone, by anyone, in an hour.
    Phone,
    /// Codes one subject asked for, in an hour.
    Subject,
    /// Codes asked for from one client address, in an hour.
    Ip,
    /// Wrong codes one subject submitted, in a day.
    Failures,
    /// Codes sent to anyone, in an hour.
    BudgetHour,
    /// Codes sent to anyone, in a day.
    BudgetDay,
    /// Codes sent to one country, in an hour.
    CountryHour,
    /// Codes sent to one country, in a day.
    CountryDay,
}

impl CounterKind {
    /// The rule a full counter of this kind is, as refusals name it in logs and metrics.
    pub const fn rule(self) -> &'static str {
        match self {
            Self::Phone => "phone_hour",
            Self::Subject => "subject_hour",
            Self::Ip => "ip_hour",
            Self::Failures => "failures_day",
            Self::BudgetHour => "budget_hour",
            Self::BudgetDay => "budget_day",
            Self::CountryHour => "budget_country_hour",
            Self::CountryDay => "budget_country_day",
        }
    }

    /// The name in stored keys.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Subject => "subject",
            Self::Ip => "ip",
            Self::Failures => "failures",
            Self::BudgetHour => "budget_hour",
            Self::BudgetDay => "budget_day",
            Self::CountryHour => "country_hour",
            Self::CountryDay => "country_day",
        }
    }

    /// Whether it is a send budget (every caller's sends together), rather than a limit
    /// on one caller, phone or address.
    pub const fn is_budget(self) -> bool {
        matches!(self, Self::BudgetHour | Self::BudgetDay | Self::CountryHour | Self::CountryDay)
    }
}

/// One fixed-window counter, such as "codes to this phone in this hour".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// What it counts.
    pub kind: CounterKind,
    /// Whom and which window it counts: `<kind>#<pseudonym>#<window start>`.
    pub key: String,
    /// Counts allowed in the window.
    pub limit: u32,
    /// When the window ends and the counter may be forgotten.
    pub resets_at: EpochSeconds,
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

/// A challenge to take back after its request failed.
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

/// Where challenges, counters and verified phones live. Each method is atomic, also
/// against concurrent calls from other processes, and safe to retry: a write that was
/// applied but whose answer was lost is recognised, not applied twice.
pub trait ChallengeStore: Clone + Send + Sync + 'static {
    /// The phone's verification record, if it has ever verified.
    fn verified(
        &self,
        phone_key: &str,
    ) -> impl Future<Output = Result<Option<VerifiedPhone>, StoreError>> + Send;

    /// Unless the subject's challenge for this phone is cooling down (`resend_after >
    /// now`) or a counter is full, increments every counter and stores the challenge,
    /// replacing the subject's previous one for this phone. Other subjects' challenges are
    /// never touched.
    fn issue(
        &self,
        issue: Issue<'_>,
    ) -> impl Future<Output = Result<IssueOutcome, StoreError>> + Send;

    /// Takes the challenge back if it is still the stored one and unused (a code that
    /// arrived after all and was verified stays verified): the challenge it replaced is put
    /// back as it was (its expiry, attempts and use unchanged, so nothing is reopened or
    /// extended), or the challenge is removed when it replaced none; then only each refund
    /// counter that still holds a count is decremented. A challenge that was never stored
    /// refunds nothing, and a failed send leaves the subject's pending code as it was. An
    /// error means some part may not have been taken back.
    fn withdraw(
        &self,
        withdrawal: Withdrawal<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Checks a code. Unless the failure counter is full: a right code on an open
    /// challenge ([`Challenge::refusal`]) uses it, counting the attempt; a wrong one counts
    /// an attempt and a failure, atomically with the comparison, so that no number of
    /// parallel checks compares more codes than the budgets allow. The subject's own
    /// challenge only.
    fn check(
        &self,
        check: Check<'_>,
    ) -> impl Future<Output = Result<CheckOutcome, StoreError>> + Send;

    /// What a send is judged on, before anything is written: the phone's verification
    /// record and [`Self::breaker_readings`]. Neither needs to be strongly consistent,
    /// since the write that follows re-checks everything it relies on; a store may read
    /// them in one request.
    fn send_readings(
        &self,
        phone_key: &str,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> impl Future<Output = Result<SendReadings, StoreError>> + Send {
        async move {
            let readings = async {
                match destinations {
                    [] => Ok(Vec::new()),
                    _ => self.breaker_readings(destinations, window).await,
                }
            };
            let (verified, readings) = tokio::join!(self.verified(phone_key), readings);
            Ok(SendReadings { verified: verified?, readings: readings? })
        }
    }

    /// Each destination's tally summed over the buckets starting at `window`, and its
    /// recorded trip; in the order of `destinations`.
    fn breaker_readings(
        &self,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> impl Future<Output = Result<Vec<Reading>, StoreError>> + Send;

    /// Adds one `event` to each destination's tally in the bucket of `now`; an event that
    /// takes another back never brings a tally below zero. A tally is a heuristic's input:
    /// a write whose answer was lost is not retried, so it never counts twice, and may
    /// count once less.
    fn tally(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that `destination` is tripped until `until`, unless a trip that lasts at
    /// least as long is recorded already.
    fn trip(
        &self,
        destination: &Destination,
        until: EpochSeconds,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
