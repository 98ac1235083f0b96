//! Test doubles shared by the crate's tests.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::otp::ports::{
    AttemptClaim, Challenge, ChallengeStore, EpochSeconds, IssueOutcome, RandomSource, SendCounter,
    SmsError, SmsSender, StoreError,
};
use crate::phone::PhoneNumber;

/// Hands out the given digit strings in turn, round and round, and identifiers `id-1`, `id-2`, ...
pub struct FixedRandom {
    digits: Mutex<VecDeque<&'static str>>,
    ids: Mutex<u32>,
}

impl FixedRandom {
    pub fn new(digits: &[&'static str]) -> Self {
        Self { digits: Mutex::new(digits.iter().copied().collect()), ids: Mutex::new(0) }
    }
}

impl RandomSource for FixedRandom {
    fn digits(&self, len: usize) -> String {
        let mut queue = self.digits.lock().unwrap();
        let digits = queue.pop_front().expect("digits given");
        queue.push_back(digits);
        assert_eq!(digits.len(), len);
        digits.to_owned()
    }

    fn identifier(&self) -> String {
        let mut ids = self.ids.lock().unwrap();
        *ids += 1;
        format!("id-{ids}")
    }
}

/// Fails every send.
pub struct BrokenSms;

impl SmsSender for BrokenSms {
    async fn send(&self, _to: &PhoneNumber, _body: &str) -> Result<(), SmsError> {
        Err(SmsError("provider down".into()))
    }
}

/// A store whose every operation fails, as when its backend is unreachable.
pub struct BrokenStore;

fn unreachable_store() -> StoreError {
    StoreError::new("backend unreachable")
}

impl ChallengeStore for BrokenStore {
    async fn issue(
        &self,
        _challenge: &Challenge,
        _counters: &[SendCounter],
        _now: EpochSeconds,
    ) -> Result<IssueOutcome, StoreError> {
        Err(unreachable_store())
    }

    async fn withdraw(&self, _phone_key: &str, _challenge_id: &str) -> Result<(), StoreError> {
        Err(unreachable_store())
    }

    async fn claim_attempt(
        &self,
        _phone_key: &str,
        _now: EpochSeconds,
        _max_attempts: u32,
    ) -> Result<AttemptClaim, StoreError> {
        Err(unreachable_store())
    }

    async fn complete(
        &self,
        _phone_key: &str,
        _challenge_id: &str,
        _now: EpochSeconds,
    ) -> Result<bool, StoreError> {
        Err(unreachable_store())
    }

    async fn is_verified(&self, _phone_key: &str) -> Result<bool, StoreError> {
        Err(unreachable_store())
    }
}
