//! A [`ChallengeStore`] in process memory, for the local server and tests. One mutex makes
//! every operation atomic; it applies the same rules as the DynamoDB store, which the
//! store contract tests run against both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::otp::breaker::{Destination, Reading, Tallied, Tally};
use crate::otp::ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, CounterKind, EpochSeconds,
    FullCounter, Issue, IssueOutcome, SendRefusal, StoreError, VerifiedPhone, Withdrawal,
};
use crate::otp::time;

/// Challenges, counters and verified phones in a `HashMap` each. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// (phone key, subject key) to the subject's challenge for that phone.
    challenges: HashMap<(String, String), Stored>,
    /// Counter key to (count so far, window end).
    counters: HashMap<String, (u32, EpochSeconds)>,
    /// Phone key to the subject key of its verified owner.
    owners: HashMap<String, String>,
    /// The breaker's tallies by bucket key, and its trips by trip key.
    tallies: HashMap<String, Tally>,
    trips: HashMap<String, EpochSeconds>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything: challenges, counters, owners and the breaker's tallies and trips.
    pub fn clear(&self) {
        *self.state() = State::default();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No operation can leave the state half-changed, so a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn forget_expired(&mut self, now: EpochSeconds) {
        self.counters.retain(|_, (_, resets_at)| *resets_at > now);
        self.challenges.retain(|_, stored| stored.challenge.forget_after() > now);
    }

    fn count(&self, key: &str) -> u32 {
        self.counters.get(key).map_or(0, |(count, _)| *count)
    }
}

/// The tally of `destination` in the bucket starting at `bucket`, made when missing.
fn state_tallies<'a>(
    tallies: &'a mut HashMap<String, Tally>,
    destination: &Destination,
    bucket: EpochSeconds,
) -> &'a mut Tally {
    tallies.entry(destination.bucket_key(bucket)).or_default()
}

/// A challenge and the checks made on it, by check id, so that a retried check is
/// answered as the first was instead of counting again; and the challenge it replaced, put
/// back should this one be withdrawn.
#[derive(Debug)]
struct Stored {
    challenge: Challenge,
    checks: Vec<(String, CheckOutcome)>,
    previous: Option<Challenge>,
}

fn key(phone_key: &str, subject_key: &str) -> (String, String) {
    (phone_key.to_owned(), subject_key.to_owned())
}

impl ChallengeStore for MemoryStore {
    async fn verified(&self, phone_key: &str) -> Result<Option<VerifiedPhone>, StoreError> {
        let state = self.state();
        Ok(state.owners.get(phone_key).map(|owner| VerifiedPhone { owner: Some(owner.clone()) }))
    }

    async fn issue(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        let mut state = self.state();
        let (challenge, now) = (issue.challenge, issue.now);
        state.forget_expired(now);

        let mut refusal = SendRefusal::default();
        let slot = key(&challenge.phone_key, &challenge.subject_key);
        let pending = state.challenges.get(&slot).map(|stored| &stored.challenge);
        if pending.is_some_and(|pending| pending.id == challenge.id) {
            return Ok(IssueOutcome::Issued); // a retry of this very issue
        }
        if let Some(pending) = pending.filter(|pending| pending.resend_after > now) {
            refusal.cooldown = true;
            refusal.retry_at = pending.resend_after;
        }
        let owner = state.owners.get(&challenge.phone_key);
        if issue.as_verified_owner && owner != Some(&challenge.subject_key) {
            refusal.not_owner = true;
            refusal.retry_at = refusal.retry_at.max(now + 1);
        }
        for counter in issue.counters {
            let waived = issue.as_verified_owner && counter.kind == CounterKind::Phone;
            let count = state.count(&counter.key);
            if !waived && count >= counter.limit {
                refusal.full.push(FullCounter { kind: counter.kind, count });
                refusal.retry_at = refusal.retry_at.max(counter.resets_at);
            }
        }
        if refusal.cooldown || refusal.not_owner || !refusal.full.is_empty() {
            return Ok(IssueOutcome::Refused(refusal));
        }

        for counter in issue.counters {
            state.counters.entry(counter.key.clone()).or_insert((0, counter.resets_at)).0 += 1;
        }
        let previous = state.challenges.remove(&slot).map(|stored| stored.challenge);
        let stored = Stored { challenge: challenge.clone(), checks: Vec::new(), previous };
        state.challenges.insert(slot, stored);
        Ok(IssueOutcome::Issued)
    }

    async fn withdraw(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        let mut state = self.state();
        let challenge = withdrawal.challenge;
        let slot = key(&challenge.phone_key, &challenge.subject_key);
        // Only our own challenge, and only while unused: a code that arrived after all and
        // was verified stays verified.
        let ours = |stored: &Stored| stored.challenge.id == challenge.id && !stored.challenge.used;
        if !state.challenges.get(&slot).is_some_and(ours) {
            return Ok(());
        }
        let withdrawn = state.challenges.remove(&slot);
        if let Some(previous) = withdrawn.and_then(|stored| stored.previous) {
            let restored = Stored { challenge: previous, checks: Vec::new(), previous: None };
            state.challenges.insert(slot, restored);
        }
        for counter in withdrawal.refund {
            if let Some((count, _)) = state.counters.get_mut(&counter.key) {
                *count = count.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn check(&self, check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        let mut state = self.state();
        let slot = key(check.phone_key, check.subject_key);
        let earlier = state.challenges.get(&slot).and_then(|stored| {
            stored.checks.iter().find(|(id, _)| id == check.attempt_id).map(|(_, seen)| seen)
        });
        if let Some(outcome) = earlier {
            return Ok(outcome.clone()); // a retry of this very check
        }
        if let Some(failures) = check.failures
            && state.count(&failures.key) >= failures.limit
        {
            return Ok(CheckOutcome::TooManyFailures { retry_at: failures.resets_at });
        }
        let State { challenges, counters, owners, tallies, .. } = &mut *state;
        let Some(stored) = challenges.get_mut(&slot) else {
            return Ok(CheckOutcome::Refused(AttemptRefusal::NoChallenge));
        };
        let challenge = &mut stored.challenge;
        if let Some(refusal) = challenge.refusal(check.now, check.max_attempts) {
            return Ok(CheckOutcome::Refused(refusal));
        }
        challenge.attempts += 1;
        let outcome = if challenge.code_digest == check.code_digest {
            challenge.used = true;
            if challenge.tallied && !check.tally.is_empty() {
                let bucket = time::bucket_of(check.now);
                for destination in check.tally {
                    state_tallies(tallies, destination, bucket).verified += 1;
                }
            }
            let reassigned = check.record_owner
                && owners
                    .insert(check.phone_key.to_owned(), check.subject_key.to_owned())
                    .is_some_and(|previous| previous != check.subject_key);
            CheckOutcome::Verified { reassigned }
        } else {
            if let Some(failures) = check.failures {
                counters.entry(failures.key.clone()).or_insert((0, failures.resets_at)).0 += 1;
            }
            CheckOutcome::WrongCode {
                attempts_left: check.max_attempts.saturating_sub(challenge.attempts),
            }
        };
        stored.checks.push((check.attempt_id.to_owned(), outcome.clone()));
        Ok(outcome)
    }

    async fn breaker_readings(
        &self,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<Vec<Reading>, StoreError> {
        let state = self.state();
        Ok(destinations
            .iter()
            .map(|destination| Reading {
                tally: window
                    .iter()
                    .filter_map(|bucket| state.tallies.get(&destination.bucket_key(*bucket)))
                    .fold(Tally::default(), |sum, tally| sum + *tally),
                tripped_until: state.trips.get(&destination.trip_key()).copied(),
            })
            .collect())
    }

    async fn tally(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let bucket = time::bucket_of(now);
        // Buckets no window reaches any more are dropped, as DynamoDB's TTL would.
        let oldest = now.saturating_sub(time::BUCKETS * time::BUCKET_SECONDS);
        state.tallies.retain(|key, _| {
            key.rsplit('#').next().and_then(|start| start.parse::<u64>().ok()) >= Some(oldest)
        });
        for destination in destinations {
            let tally = state.tallies.entry(destination.bucket_key(bucket)).or_default();
            match event {
                Tallied::Sent => tally.sent += 1,
                Tallied::Unsent => tally.sent = tally.sent.saturating_sub(1),
                Tallied::Verified => tally.verified += 1,
                Tallied::Unverified => tally.verified = tally.verified.saturating_sub(1),
            }
        }
        Ok(())
    }

    async fn trip(&self, destination: &Destination, until: EpochSeconds) -> Result<(), StoreError> {
        let mut state = self.state();
        let recorded = state.trips.entry(destination.trip_key()).or_insert(until);
        *recorded = (*recorded).max(until);
        Ok(())
    }
}
