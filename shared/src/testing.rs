//! Test doubles of the ports, for this crate's tests and, with the `testing` feature, for
//! the test kit and the fuzz targets. Never part of a deployed build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::keyed_hash::HashKey;
use crate::otp::breaker::{Destination, Reading, Tallied};
use crate::otp::message::Message;
use crate::otp::ports::{
    ChallengeStore, Check, CheckOutcome, Clock, EpochSeconds, Issue, IssueOutcome, MessageSender,
    RandomSource, Receipt, SendError, StoreError, VerifiedPhone, Withdrawal,
};
use crate::otp::{OtpService, Policy};
use crate::phone::PhoneNumber;
use crate::sms::Inbox;
use crate::store::MemoryStore;
use crate::system::OsRandom;
use crate::verification_token::VerificationTokens;

/// 2026-01-01T00:00:00Z, an hour boundary: where test clocks start.
pub const START: EpochSeconds = 1_767_225_600;

/// The hash key tests use unless they say otherwise.
pub fn hash_key() -> HashKey {
    HashKey::new(*b"0123456789abcdef0123456789abcdef").expect("32 bytes is long enough")
}

/// An [`OtpService`] with test defaults: an empty [`MemoryStore`], an [`Inbox`], a
/// [`ManualClock`] at [`START`], the OS random source, the default policy and [`hash_key`].
/// Each port can be replaced; pass a clone of a handle to keep reading it.
pub fn service() -> ServiceBuilder<MemoryStore, Inbox, ManualClock, OsRandom> {
    ServiceBuilder {
        store: MemoryStore::new(),
        sender: Inbox::new(),
        clock: ManualClock::new(START),
        random: OsRandom,
        policy: Policy::default(),
        key: hash_key(),
        tokens: None,
    }
}

/// Builds an [`OtpService`]; see [`service`].
#[derive(Debug, Clone)]
pub struct ServiceBuilder<S, M, C, R> {
    store: S,
    sender: M,
    clock: C,
    random: R,
    policy: Policy,
    key: HashKey,
    tokens: Option<VerificationTokens>,
}

impl<S, M, C, R> ServiceBuilder<S, M, C, R> {
    /// Uses `store`.
    pub fn store<T>(self, store: T) -> ServiceBuilder<T, M, C, R> {
        let Self { sender, clock, random, policy, key, tokens, .. } = self;
        ServiceBuilder { store, sender, clock, random, policy, key, tokens }
    }

    /// Sends messages through `sender`.
    pub fn sender<T>(self, sender: T) -> ServiceBuilder<S, T, C, R> {
        let Self { store, clock, random, policy, key, tokens, .. } = self;
        ServiceBuilder { store, sender, clock, random, policy, key, tokens }
    }

    /// Reads the time from `clock`.
    pub fn clock<T>(self, clock: T) -> ServiceBuilder<S, M, T, R> {
        let Self { store, sender, random, policy, key, tokens, .. } = self;
        ServiceBuilder { store, sender, clock, random, policy, key, tokens }
    }

    /// Draws codes and identifiers from `random`.
    pub fn random<T>(self, random: T) -> ServiceBuilder<S, M, C, T> {
        let Self { store, sender, clock, policy, key, tokens, .. } = self;
        ServiceBuilder { store, sender, clock, random, policy, key, tokens }
    }

    /// Applies `policy`.
    pub fn policy(self, policy: Policy) -> Self {
        Self { policy, ..self }
    }

    /// Hashes with `key`.
    pub fn key(self, key: HashKey) -> Self {
        Self { key, ..self }
    }

    /// Signs a verification token on each success with `tokens`.
    pub fn verification_tokens(self, tokens: VerificationTokens) -> Self {
        Self { tokens: Some(tokens), ..self }
    }
}

impl<S, M, C, R> ServiceBuilder<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// The service.
    pub fn build(self) -> OtpService<S, M, C, R> {
        OtpService::new(self.store, self.sender, self.clock, self.random, self.policy, self.key)
            .with_verification_tokens(self.tokens)
    }
}

/// A clock that stands still until told to move. Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: EpochSeconds) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

/// Hands out the given digit strings in turn, round and round, and identifiers `id-1`,
/// `id-2`, ... Clones share the sequence.
#[derive(Debug, Clone)]
pub struct FixedRandom {
    digits: Arc<Mutex<VecDeque<&'static str>>>,
    ids: Arc<AtomicU64>,
}

impl FixedRandom {
    /// A source that hands out `digits` in turn; each must have the length asked for.
    pub fn new(digits: &[&'static str]) -> Self {
        Self { digits: Arc::new(Mutex::new(digits.iter().copied().collect())), ids: Arc::default() }
    }
}

impl RandomSource for FixedRandom {
    fn digits(&self, len: usize) -> String {
        let mut queue = self.digits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let digits = queue.pop_front().expect("FixedRandom was given digits");
        queue.push_back(digits);
        assert_eq!(digits.len(), len, "FixedRandom was asked for {len} digits");
        digits.to_owned()
    }

    fn identifier(&self) -> String {
        format!("id-{}", self.ids.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// Fails every send, as a provider that refuses: the message will not arrive.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrokenSender;

impl MessageSender for BrokenSender {
    async fn send(&self, _to: &PhoneNumber, _sms: &Message) -> Result<Receipt, SendError> {
        Err(SendError::not_sent("provider down"))
    }
}

/// A store whose every operation fails, as when its backend is unreachable.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrokenStore;

fn unreachable_store() -> StoreError {
    StoreError::new("backend unreachable")
}

impl ChallengeStore for BrokenStore {
    async fn verified(&self, _phone_key: &str) -> Result<Option<VerifiedPhone>, StoreError> {
        Err(unreachable_store())
    }

    async fn issue(&self, _issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        Err(unreachable_store())
    }

    async fn withdraw(&self, _withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        Err(unreachable_store())
    }

    async fn check(&self, _check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        Err(unreachable_store())
    }

    async fn breaker_readings(
        &self,
        _destinations: &[Destination],
        _window: &[EpochSeconds],
    ) -> Result<Vec<Reading>, StoreError> {
        Err(unreachable_store())
    }

    async fn tally(
        &self,
        _destinations: &[Destination],
        _event: Tallied,
        _now: EpochSeconds,
    ) -> Result<(), StoreError> {
        Err(unreachable_store())
    }

    async fn trip(
        &self,
        _destination: &Destination,
        _until: EpochSeconds,
    ) -> Result<(), StoreError> {
        Err(unreachable_store())
    }
}

/// A store that never answers, as one whose network hangs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlowStore;

async fn never<T>() -> T {
    std::future::pending().await
}

impl ChallengeStore for SlowStore {
    async fn verified(&self, _phone_key: &str) -> Result<Option<VerifiedPhone>, StoreError> {
        never().await
    }

    async fn issue(&self, _issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        never().await
    }

    async fn withdraw(&self, _withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        never().await
    }

    async fn check(&self, _check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        never().await
    }

    async fn breaker_readings(
        &self,
        _destinations: &[Destination],
        _window: &[EpochSeconds],
    ) -> Result<Vec<Reading>, StoreError> {
        never().await
    }

    async fn tally(
        &self,
        _destinations: &[Destination],
        _event: Tallied,
        _now: EpochSeconds,
    ) -> Result<(), StoreError> {
        never().await
    }

    async fn trip(
        &self,
        _destination: &Destination,
        _until: EpochSeconds,
    ) -> Result<(), StoreError> {
        never().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.clone().advance(30);
        assert_eq!(clock.now(), 1_030, "clones share the time");
    }
}
