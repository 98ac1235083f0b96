//! A [`ChallengeStore`] in process memory, for the local server and tests. One mutex makes
//! every operation atomic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::otp::ports::{
    AttemptClaim, AttemptRefusal, Challenge, ChallengeStore, EpochSeconds, IssueOutcome,
    SendCounter, StoreError,
};

/// Challenges, send counters and verified phones in a `HashMap` each. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    challenges: HashMap<String, Challenge>,
    /// Counter key to (sends so far, window end).
    counters: HashMap<String, (u32, EpochSeconds)>,
    /// Phone key to the second it was first verified.
    verified: HashMap<String, EpochSeconds>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No operation can leave the state half-changed, so a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChallengeStore for MemoryStore {
    async fn issue(
        &self,
        challenge: &Challenge,
        counters: &[SendCounter],
        now: EpochSeconds,
    ) -> Result<IssueOutcome, StoreError> {
        let mut state = self.state();
        state.counters.retain(|_, (_, resets_at)| *resets_at > now);
        state.challenges.retain(|_, pending| pending.forget_after() > now);

        let cooling_down = state
            .challenges
            .get(&challenge.phone_key)
            .map(|pending| pending.resend_after)
            .filter(|resend_after| *resend_after > now);
        let full_counters = counters.iter().filter(|counter| {
            state.counters.get(&counter.key).is_some_and(|(sends, _)| *sends >= counter.limit)
        });
        let retry_at = cooling_down.into_iter().chain(full_counters.map(|c| c.resets_at)).max();
        if let Some(retry_at) = retry_at {
            return Ok(IssueOutcome::Refused { retry_at });
        }

        for counter in counters {
            state.counters.entry(counter.key.clone()).or_insert((0, counter.resets_at)).0 += 1;
        }
        state.challenges.insert(challenge.phone_key.clone(), challenge.clone());
        Ok(IssueOutcome::Issued)
    }

    async fn withdraw(&self, phone_key: &str, challenge_id: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.challenges.get(phone_key).is_some_and(|pending| pending.id == challenge_id) {
            state.challenges.remove(phone_key);
        }
        Ok(())
    }

    async fn claim_attempt(
        &self,
        phone_key: &str,
        now: EpochSeconds,
        max_attempts: u32,
    ) -> Result<AttemptClaim, StoreError> {
        let mut state = self.state();
        let Some(challenge) = state.challenges.get_mut(phone_key) else {
            return Ok(AttemptClaim::Refused(AttemptRefusal::NoChallenge));
        };
        if let Some(refusal) = challenge.refusal(now, max_attempts) {
            return Ok(AttemptClaim::Refused(refusal));
        }
        challenge.attempts += 1;
        Ok(AttemptClaim::Granted(challenge.clone()))
    }

    async fn complete(
        &self,
        phone_key: &str,
        challenge_id: &str,
        now: EpochSeconds,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(challenge) = state.challenges.get_mut(phone_key) else {
            return Ok(false);
        };
        if challenge.id != challenge_id || challenge.used {
            return Ok(false);
        }
        challenge.used = true;
        state.verified.entry(phone_key.to_owned()).or_insert(now);
        Ok(true)
    }

    async fn is_verified(&self, phone_key: &str) -> Result<bool, StoreError> {
        Ok(self.state().verified.contains_key(phone_key))
    }
}
