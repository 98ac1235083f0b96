//! A check: the counting write of a wrong code, the consuming write of a right one, and
//! what a cancelled write's old item says about where the check stands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};

use super::DynamoStore;
use super::counters::Slot;
use super::retry::{Transacted, failed, jittered_pause, undecided};
use super::schema::{
    Item, challenge_key, number, optional_text, parse_challenge, string, string_set, verified_key,
};
use crate::otp::breaker::Tallied;
use crate::otp::challenge::{AttemptRefusal, Check, CheckOutcome, StoreError};

/// How many times a check may start over because the state moved under it (another
/// subject took the phone, a resend replaced the challenge, a parallel check used the
/// last attempt).
pub(super) const CHECK_PASSES: usize = 3;

/// The attempt counts this instance's checks last left on challenges, by (phone, subject):
/// a guess for the next check's counting write, so that a second wrong code usually costs
/// one write too. Only a guess: the write's condition decides.
#[derive(Debug, Clone, Default)]
pub(super) struct AttemptsSeen(Arc<Mutex<HashMap<String, u32>>>);

impl AttemptsSeen {
    /// Past this many challenges, it starts again empty.
    const CAPACITY: usize = 4096;

    pub(super) fn guess(&self, slot: &str) -> u32 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(slot).copied().unwrap_or(0)
    }

    pub(super) fn remember(&self, slot: String, attempts: u32) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= Self::CAPACITY {
            seen.clear();
        }
        seen.insert(slot, attempts);
    }

    pub(super) fn forget(&self, slot: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(slot);
    }
}

impl DynamoStore {
    /// The counting write of a check: when the code is wrong, one attempt (with this
    /// check's id) and one failure are counted, in the same write that compares the digest,
    /// so that parallel guesses can never be compared without being counted. It counts only
    /// on `before` attempts exactly, so that a commit tells how many the challenge has left
    /// (a transaction returns no values); a wrong `before` fails with the stored count.
    pub(super) fn wrong_code_items(
        &self,
        check: &Check<'_>,
        before: u32,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let attempt = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(check.phone_key, check.subject_key))
            .update_expression("ADD attempts :one, attempt_ids :checks")
            .condition_expression(
                "attribute_exists(pk) AND used = :false AND expires_at > :now \
                 AND attempts = :before AND attempts < :max \
                 AND code_digest <> :digest AND NOT contains(attempt_ids, :check)",
            )
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(
                ":checks",
                AttributeValue::Ss(vec![check.attempt_id.to_owned()]),
            )
            .expression_attribute_values(":check", string(check.attempt_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", number(check.now))
            .expression_attribute_values(":before", number(before))
            .expression_attribute_values(":max", number(check.max_attempts))
            .expression_attribute_values(":digest", AttributeValue::B(Blob::new(check.code_digest)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(attempt).build()];
        if let Some(failures) = check.failures {
            items.push(self.counter_update(&Slot::One(failures), true)?);
        }
        Ok(items)
    }

    /// The consuming write of a right code: the challenge is used (the attempt counted) and,
    /// with `record_owner`, the subject made the phone's owner. It does not check the
    /// failure counter again: the code reaches it only as the counting write's comparison
    /// (which carries the counter's condition) found it right, so the cap had admitted it,
    /// and a third item would cost 2 write units on every right code. A cancellation that
    /// left the counter's condition undecided admits nothing (see `check_once`). `reassign`
    /// is the pass for a phone another subject owns; it is recorded on the challenge, so
    /// that a retry of a lost answer still knows.
    pub(super) fn right_code_items(
        &self,
        check: &Check<'_>,
        reassign: bool,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let consume = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(check.phone_key, check.subject_key))
            .update_expression(
                "SET used = :true, used_by = :check, reassigned = :reassigned ADD attempts :one",
            )
            .condition_expression(
                "attribute_exists(pk) AND used = :false AND expires_at > :now \
                 AND attempts < :max AND code_digest = :digest",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":reassigned", AttributeValue::Bool(reassign))
            .expression_attribute_values(":check", string(check.attempt_id))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", number(check.now))
            .expression_attribute_values(":max", number(check.max_attempts))
            .expression_attribute_values(":digest", AttributeValue::B(Blob::new(check.code_digest)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(consume).build()];
        if check.record_owner {
            let condition = if reassign {
                "attribute_exists(#owner) AND #owner <> :subject"
            } else {
                "attribute_not_exists(#owner) OR #owner = :subject"
            };
            let own = Update::builder()
                .table_name(&self.table)
                .key("pk", verified_key(check.phone_key))
                .update_expression(
                    "SET #owner = :subject, owned_since = :now, \
                     verified_at = if_not_exists(verified_at, :now)",
                )
                .condition_expression(condition)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":subject", string(check.subject_key))
                .expression_attribute_values(":now", number(check.now))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().update(own).build());
        }
        Ok(items)
    }

    /// What a stored challenge, returned by a failed condition, says about `check`: an
    /// outcome, or `None` when the code is right and the challenge open.
    pub(super) fn judge(check: &Check<'_>, stored: Option<&Item>) -> Result<Judged, StoreError> {
        let Some(stored) = stored else {
            return Ok(Judged::Done(CheckOutcome::Refused(AttemptRefusal::NoChallenge)));
        };
        let challenge = parse_challenge(check.phone_key, check.subject_key, stored)?;
        let ours = |name| optional_text(stored, name) == Some(check.attempt_id);
        if challenge.used && ours("used_by") {
            // Our own right code, applied before its answer was lost.
            let reassigned = stored.get("reassigned").and_then(|v| v.as_bool().ok()) == Some(&true);
            return Ok(Judged::Ours(CheckOutcome::Verified { reassigned }));
        }
        if string_set(stored, "attempt_ids").contains(&check.attempt_id) {
            // Our own wrong code, counted before its answer was lost.
            let attempts_left = check.max_attempts.saturating_sub(challenge.attempts);
            return Ok(Judged::Ours(CheckOutcome::WrongCode { attempts_left }));
        }
        if let Some(refusal) = challenge.refusal(check.now, check.max_attempts) {
            return Ok(Judged::Done(CheckOutcome::Refused(refusal)));
        }
        if challenge.code_digest == check.code_digest {
            return Ok(Judged::Right { tallied: challenge.tallied });
        }
        Ok(Judged::Wrong { before: challenge.attempts })
    }

    /// A check in at most two writes. The common case, a wrong code, is one: the counting
    /// write commits. A right code cancels it (the digests are equal) and takes the
    /// consuming write; so does the wrong code that uses up the budget, which takes the
    /// counting write for the last attempt. Each write re-checks everything it relies on, so
    /// a state that moved in between sends the check round again. The consuming write goes
    /// out with the breaker's tally beside it (`tallied` is set as it goes).
    pub(super) async fn check_once(
        &self,
        check: Check<'_>,
        tallied: &AtomicBool,
    ) -> Result<CheckOutcome, StoreError> {
        // Only the counting write carries the failure counter, as its second item.
        let too_many = |reasons: &[CancellationReason], counting: bool| {
            check.failures.filter(|_| counting && reasons.get(1).is_some_and(failed))
        };
        // The first write guesses the count from this instance's last check of the same
        // challenge (none: 0); a wrong guess costs one more write.
        let slot = format!("{}#{}", check.phone_key, check.subject_key);
        let mut next = Judged::Wrong { before: self.attempts_seen.guess(&slot) };
        let mut reassign = false;
        // Each pass that loses a race to a parallel check of the same challenge leaves one
        // attempt fewer, so the budget bounds the passes too.
        for _ in 0..CHECK_PASSES * 2 + check.max_attempts as usize {
            let (items, counting) = match next {
                Judged::Wrong { before } => (self.wrong_code_items(&check, before)?, true),
                Judged::Right { .. } => (self.right_code_items(&check, reassign)?, false),
                Judged::Done(outcome) | Judged::Ours(outcome) => return Ok(outcome),
            };
            // Only a code whose send the breaker tallied is tallied as verified.
            let transacted = if matches!(next, Judged::Right { tallied: true })
                && !check.tally.is_empty()
                && !tallied.swap(true, Ordering::Relaxed)
            {
                // The verification is tallied while the challenge is used: one round trip.
                let verified = self.tally_once(check.tally, Tallied::Verified, check.now);
                let (transacted, tally) = tokio::join!(self.transact(items), verified);
                if let Err(error) = tally {
                    tracing::warn!(error = %error, "the breaker's tally could not be updated");
                }
                transacted?
            } else {
                self.transact(items).await?
            };
            let reasons = match transacted {
                Transacted::Committed => {
                    return Ok(match next {
                        Judged::Wrong { before } => {
                            self.attempts_seen.remember(slot, before + 1);
                            let attempts_left = check.max_attempts.saturating_sub(before + 1);
                            CheckOutcome::WrongCode { attempts_left }
                        }
                        _ => CheckOutcome::Verified { reassigned: reassign },
                    });
                }
                Transacted::Cancelled(reasons) => reasons,
            };
            // The challenge first: a retry of our own applied write trips the failure cap
            // on its own increment, and must still be recognised as ours.
            let judged = if failed(&reasons[0]) {
                Some(Self::judge(&check, reasons[0].item())?)
            } else {
                None
            };
            if let Some(Judged::Ours(outcome)) = judged {
                return Ok(outcome);
            }
            if let Some(failures) = too_many(&reasons, counting) {
                return Ok(CheckOutcome::TooManyFailures { retry_at: failures.resets_at });
            }
            // A right code is used only once the cap admitted its comparison. A counter that
            // lost a race or was throttled in the cancelled counting write (or has no reason
            // in the answer) said nothing: the same write goes again, and the passes bound
            // how often.
            let undecided_cap = check.failures.is_some() && reasons.get(1).is_none_or(undecided);
            if counting && undecided_cap && matches!(judged, Some(Judged::Right { .. })) {
                tokio::time::sleep(jittered_pause(1)).await;
                continue;
            }
            match judged {
                Some(judged) => next = judged,
                // Only the owner condition failed: the phone changes hands, or stops doing so.
                None if matches!(next, Judged::Right { .. }) => reassign = !reassign,
                None => return Err(StoreError::new("a condition failed on no item of the check")),
            }
        }
        Err(StoreError::new("the challenge kept changing during the check"))
    }
}

/// Where a check stands between its writes.
pub(super) enum Judged {
    /// The code is (or may be) wrong, and the challenge has `before` attempts: try the
    /// counting write.
    Wrong {
        /// The challenge's attempts before this one.
        before: u32,
    },
    /// The code is right and the challenge open; `tallied` when the breaker counted its
    /// send, so that its verification counts too.
    Right {
        /// The challenge's `tallied`.
        tallied: bool,
    },
    /// Decided.
    Done(CheckOutcome),
    /// Decided by our own earlier write, applied before its answer was lost.
    Ours(CheckOutcome),
}
