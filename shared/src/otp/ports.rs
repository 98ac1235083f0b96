//! The ports the OTP service drives: a challenge store, a message sender, a clock and a
//! random source. Traits only, with no AWS type; the values they carry are in
//! [`challenge`](super::challenge), [`delivery`](super::delivery) and
//! [`limits`](super::limits), and the adapters in `crate::store` and `crate::sms`.
//!
//! Every port is a cheap `Clone` handle (`Clone + Send + Sync + 'static`), so a caller that
//! needs the same store or inbox as the service clones it; no `Arc` wrappers are needed.

use std::future::Future;

use super::breaker::{Destination, Reading, Tallied};
pub use super::challenge::{
    AttemptRefusal, Challenge, Check, CheckOutcome, FullCounter, Issue, IssueOutcome, SendReadings,
    SendRefusal, StoreError, VerifiedPhone, Withdrawal,
};
pub use super::delivery::{Delivery, Receipt, SendError};
pub use super::limits::{Counter, CounterKind};
use super::message::Message;
pub use super::time::EpochSeconds;
use crate::phone::PhoneNumber;

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
pub trait MessageSender: Clone + Send + Sync + 'static {
    /// Hands `message` to the provider for delivery to `to`.
    fn send(
        &self,
        to: &PhoneNumber,
        message: &Message,
    ) -> impl Future<Output = Result<Receipt, SendError>> + Send;
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
