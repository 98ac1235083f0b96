//! A [`ChallengeStore`] on one DynamoDB table. Every rule is enforced by DynamoDB itself
//! with condition expressions, so it holds across any number of concurrent Lambda
//! instances; nothing is read first and then written.
//!
//! The table has a string partition key `pk` and TTL on `purge_at`. Items:
//! - `challenge#<phone pseudonym>#<subject pseudonym>`: a subject's challenge for a phone,
//!   with the one it replaced beside it (`prev_*`), put back should the new one be withdrawn;
//!   `tallied` says whether the breaker counted its send (absent on items from before it:
//!   every send was tallied then);
//! - `counter#<kind>#<pseudonym>#<window start>`: one fixed-window counter;
//! - `verified#<phone pseudonym>`: the phone has verified; `owner` is the pseudonym of the
//!   subject that verified it last. Never expires.
//! - `breaker#<prefix|country>#<digits or region>#trip`: one item per destination, the
//!   breaker's whole state for it: until when it is tripped (`tripped_until`) and its tally
//!   of sends and verifications in each ten-minute bucket of the window (`sent_<bucket
//!   start>`, `verified_<bucket start>`), so a send reads one item per destination. It keeps
//!   the key the trip record had before the tallies moved in, so that a trip recorded then
//!   still holds; the older per-bucket items (`breaker#...#<bucket start>`) are no longer
//!   read and expire within the hour.
//!
//! Every write of a send or a check is safe to retry after its answer was lost: a retried
//! transaction carries the SDK's idempotency token, and each condition also recognises the
//! request's own earlier write (the challenge id it stored, the check id it recorded), so
//! that nothing is counted twice. The writes that cannot recognise their own earlier write
//! (a withdrawal's put-back, delete and refunds; the breaker's tallies) are never retried
//! after an answer that may have been lost: they go again only on DynamoDB's not-applied
//! answers (throttling, a conflict), and otherwise fail (a tally is then dropped, a
//! withdrawal reported).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, KeysAndAttributes,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::otp::breaker::{self, Destination, Reading, Tallied, Tally};
use crate::otp::ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, Counter, CounterKind,
    EpochSeconds, FullCounter, Issue, IssueOutcome, SendReadings, SendRefusal, StoreError,
    VerifiedPhone, Withdrawal,
};

/// The longest one store call may take, retries included, unless the store is made with
/// another (see `crate::aws` for how the budgets add up to the function timeout).
pub const DEFAULT_CALL_BUDGET: Duration = Duration::from_secs(2);

/// How many times a check may start over because the state moved under it (another
/// subject took the phone, a resend replaced the challenge, a parallel check used the
/// last attempt).
const CHECK_PASSES: usize = 3;

type Item = HashMap<String, AttributeValue>;

/// The fields of a challenge that the issue replacing it keeps as `prev_<field>`, so that a
/// withdrawal can put it back; each with the placeholder kept when the field is absent (no
/// challenge before, or one written before the field existed: `tallied` was then always so).
const SAVED_FIELDS: [(&str, &str); 8] = [
    ("challenge_id", ":none"),
    ("code_digest", ":no_digest"),
    ("expires_at", ":zero"),
    ("resend_after", ":zero"),
    ("attempts", ":zero"),
    ("used", ":false"),
    ("tallied", ":true"),
    ("purge_at", ":zero"),
];

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    /// The same client without the SDK's retries, for the writes that must not apply twice
    /// (see [`send_unrepeated`]).
    unretried: Client,
    table: String,
    budget: Duration,
    attempts_seen: AttemptsSeen,
}

/// The attempt counts this instance's checks last left on challenges, by (phone, subject):
/// a guess for the next check's counting write, so that a second wrong code usually costs
/// one write too. Only a guess: the write's condition decides.
#[derive(Debug, Clone, Default)]
struct AttemptsSeen(Arc<Mutex<HashMap<String, u32>>>);

impl AttemptsSeen {
    /// Past this many challenges, it starts again empty.
    const CAPACITY: usize = 4096;

    fn guess(&self, slot: &str) -> u32 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(slot).copied().unwrap_or(0)
    }

    fn remember(&self, slot: String, attempts: u32) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= Self::CAPACITY {
            seen.clear();
        }
        seen.insert(slot, attempts);
    }

    fn forget(&self, slot: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(slot);
    }
}

/// How a transaction ended, when DynamoDB answered.
enum Transacted {
    Committed,
    /// Cancelled by at least one failed condition; one reason per item.
    Cancelled(Vec<CancellationReason>),
}

impl DynamoStore {
    /// The store on `table`, through `client`, with [`DEFAULT_CALL_BUDGET`] per call.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let attempts_seen = AttemptsSeen::default();
        let unretried = client.config().to_builder().retry_config(RetryConfig::disabled()).build();
        let unretried = Client::from_conf(unretried);
        Self { client, unretried, table: table.into(), budget: DEFAULT_CALL_BUDGET, attempts_seen }
    }

    /// The same store with another time budget per call.
    pub fn with_call_budget(self, budget: Duration) -> Self {
        Self { budget, ..self }
    }

    /// Runs `call` within the budget: a call that outlives it is a [`StoreError`]. The call
    /// is boxed: an SDK request's future is large, and the service joins several, so kept
    /// inline they would make every caller's future (and, unoptimised, its stack) large.
    async fn within_budget<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.budget, Box::pin(call)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(format!("no answer within {:?}", self.budget))),
        }
    }

    /// Runs a transaction. While it only lost races with other transactions on the same
    /// items (a `TransactionConflict`, or `TransactionInProgressException` for a retried
    /// token), it is tried again after a short, growing pause; the call's budget bounds
    /// the tries.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
        let mut pause = Duration::from_millis(10);
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(Transacted::Committed),
                Err(SdkError::ServiceError(error)) => match error.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) => Vec::new(),
                    other => return Err(StoreError::new(other)),
                },
                Err(error) => return Err(StoreError::new(error)),
            };
            let failed_condition = reasons.iter().any(failed);
            let only_races = reasons
                .iter()
                .all(|reason| matches!(reason.code(), None | Some("None" | "TransactionConflict")));
            if failed_condition {
                return Ok(Transacted::Cancelled(reasons));
            }
            if !only_races {
                return Err(StoreError::new(format!("transaction cancelled: {reasons:?}")));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    fn counter_update(
        &self,
        slot: &Slot<'_>,
        limited: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let counter = slot.item_counter();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", counter_key(counter))
            .expression_attribute_values(":purge_at", number(counter.resets_at))
            .expression_attribute_values(":one", number(1));
        update = match slot {
            Slot::One(_) => update.update_expression(
                "SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one",
            ),
            Slot::Folded { hour, .. } => update
                .update_expression(
                    "SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one, #hour :one",
                )
                .expression_attribute_names("#hour", hour_field(hour)),
        };
        if limited {
            let condition = match slot {
                Slot::One(_) => "attribute_not_exists(sends) OR sends < :limit",
                Slot::Folded { .. } => {
                    "(attribute_not_exists(sends) OR sends < :limit) \
                     AND (attribute_not_exists(#hour) OR #hour < :hour_limit)"
                }
            };
            update = update
                .condition_expression(condition)
                .expression_attribute_values(":limit", number(counter.limit))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if let Slot::Folded { hour, .. } = slot {
                update = update.expression_attribute_values(":hour_limit", number(hour.limit));
            }
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(StoreError::new)?).build())
    }

    fn issue_items(&self, issue: &Issue<'_>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let challenge = issue.challenge;
        // The replaced challenge is kept beside the new one (`prev_*`), so that a withdrawal
        // puts it back: a send that fails after this write leaves the pending code as it was.
        let replace = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(&challenge.phone_key, &challenge.subject_key))
            .update_expression(format!(
                "SET {saved}, challenge_id = :id, code_digest = :digest, expires_at = :expires_at, \
                 resend_after = :resend_after, attempts = :zero, used = :false, \
                 tallied = :tallied, purge_at = :purge_at \
                 REMOVE attempt_ids, used_by, reassigned",
                saved = SAVED_FIELDS
                    .iter()
                    .map(|(field, absent)| format!(
                        "prev_{field} = if_not_exists({field}, {absent})"
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
            .condition_expression(
                "attribute_not_exists(pk) OR (resend_after <= :now AND challenge_id <> :id)",
            )
            .expression_attribute_values(":now", number(issue.now))
            .expression_attribute_values(":id", string(&challenge.id))
            .expression_attribute_values(":none", string(""))
            .expression_attribute_values(":no_digest", AttributeValue::B(Blob::new(vec![0])))
            .expression_attribute_values(
                ":digest",
                AttributeValue::B(Blob::new(challenge.code_digest.clone())),
            )
            .expression_attribute_values(":expires_at", number(challenge.expires_at))
            .expression_attribute_values(":resend_after", number(challenge.resend_after))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":tallied", AttributeValue::Bool(challenge.tallied))
            .expression_attribute_values(":purge_at", number(challenge.forget_after()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(replace).build()];
        for slot in slots(issue.counters) {
            let waived = issue.as_verified_owner && slot.item_counter().kind == CounterKind::Phone;
            items.push(self.counter_update(&slot, !waived)?);
        }
        if issue.as_verified_owner {
            let owner = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", verified_key(&challenge.phone_key))
                .condition_expression("#owner = :subject")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":subject", string(&challenge.subject_key))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().condition_check(owner).build());
        }
        Ok(items)
    }

    async fn issue_once(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        let reasons = match self.transact(self.issue_items(&issue)?).await? {
            Transacted::Committed => {
                let challenge = issue.challenge;
                self.attempts_seen
                    .forget(&format!("{}#{}", challenge.phone_key, challenge.subject_key));
                return Ok(IssueOutcome::Issued);
            }
            Transacted::Cancelled(reasons) => reasons,
        };
        let challenge = issue.challenge;
        let slots = slots(issue.counters);
        let mut refusal = SendRefusal::default();
        for (index, reason) in reasons.iter().enumerate().filter(|(_, reason)| failed(reason)) {
            match index.checked_sub(1).map(|i| slots.get(i)) {
                None => {
                    let stored = reason.item().ok_or_else(|| StoreError::new("no old item"))?;
                    if text(stored, "challenge_id")? == challenge.id {
                        // Our own write, applied before its answer was lost.
                        return Ok(IssueOutcome::Issued);
                    }
                    refusal.cooldown = true;
                    refusal.retry_at = refusal.retry_at.max(numeric(stored, "resend_after")?);
                }
                Some(Some(slot)) => {
                    for (counter, count) in slot.full_counters(reason.item()) {
                        refusal.full.push(FullCounter { kind: counter.kind, count });
                        refusal.retry_at = refusal.retry_at.max(counter.resets_at);
                    }
                }
                Some(None) => {
                    refusal.not_owner = true;
                    refusal.retry_at = refusal.retry_at.max(issue.now + 1);
                }
            }
        }
        Ok(IssueOutcome::Refused(refusal))
    }

    /// Takes the challenge back: the challenge it replaced is put back when there was one
    /// (one `UpdateItem`), or it is deleted (one `DeleteItem`), each only while it is still
    /// the stored one and unused (a code that arrived after all and was verified stays so);
    /// then each refund goes on its own, at once. A refund whose counter is gone, or already
    /// at zero, refunds nothing. None of these writes is safe to repeat once applied, so
    /// none is retried after an answer that may have been lost ([`send_unrepeated`]): that
    /// fails the withdrawal, which is reported and errs towards counting.
    async fn withdraw_once(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        let challenge = withdrawal.challenge;
        let key = challenge_key(&challenge.phone_key, &challenge.subject_key);
        let restored = SAVED_FIELDS
            .iter()
            .map(|(field, _)| format!("{field} = prev_{field}"))
            .collect::<Vec<_>>()
            .join(", ");
        let forgotten =
            SAVED_FIELDS.iter().map(|(field, _)| format!("prev_{field}")).collect::<Vec<_>>();
        let restore = self
            .unretried
            .update_item()
            .table_name(&self.table)
            .key("pk", key.clone())
            .update_expression(format!(
                "SET {restored} REMOVE {}, attempt_ids, used_by, reassigned",
                forgotten.join(", ")
            ))
            .condition_expression(
                "challenge_id = :id AND used = :false AND prev_challenge_id <> :none",
            )
            .expression_attribute_values(":id", string(&challenge.id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":none", string(""))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let ours = match send_unrepeated(|| restore.clone().send()).await {
            Ok(_) => true,
            Err(SdkError::ServiceError(error)) => match error.into_err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let stored = failed.item();
                    let id = stored.and_then(|item| optional_text(item, "challenge_id"));
                    let used =
                        stored.and_then(|item| item.get("used")).and_then(|v| v.as_bool().ok());
                    // Ours and open, with nothing it replaced: deleted instead.
                    id == Some(challenge.id.as_str())
                        && used == Some(&false)
                        && self.delete_challenge(key, &challenge.id).await?
                }
                other => return Err(StoreError::new(other)),
            },
            Err(error) => return Err(StoreError::new(error)),
        };
        if !ours {
            return Ok(()); // not (or no longer) ours: nothing to take back
        }
        let mut refunds = tokio::task::JoinSet::new();
        for slot in slots(withdrawal.refund) {
            let refund = self
                .unretried
                .update_item()
                .table_name(&self.table)
                .key("pk", counter_key(slot.item_counter()))
                .expression_attribute_values(":minus_one", number(-1))
                .expression_attribute_values(":one", number(1));
            let refund = match &slot {
                Slot::One(_) => refund
                    .update_expression("ADD sends :minus_one")
                    .condition_expression("sends >= :one"),
                Slot::Folded { hour, .. } => refund
                    .update_expression("ADD sends :minus_one, #hour :minus_one")
                    .condition_expression("sends >= :one AND #hour >= :one")
                    .expression_attribute_names("#hour", hour_field(hour)),
            };
            refunds.spawn(send_unrepeated(move || refund.clone().send()));
        }
        let mut failed_refunds = 0;
        while let Some(done) = refunds.join_next().await {
            match done.map_err(StoreError::new)? {
                Ok(_) => {}
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception) => {}
                Err(error) => {
                    tracing::warn!(error = %DisplayErrorContext(&error), "a refund failed");
                    failed_refunds += 1;
                }
            }
        }
        match failed_refunds {
            0 => Ok(()),
            n => Err(StoreError::new(format!("{n} of the refunds failed; they stay counted"))),
        }
    }

    /// Deletes the challenge stored under `key` if its id is `id` and it is unused; says
    /// whether it did.
    async fn delete_challenge(&self, key: AttributeValue, id: &str) -> Result<bool, StoreError> {
        let delete = self
            .unretried
            .delete_item()
            .table_name(&self.table)
            .key("pk", key)
            .condition_expression("challenge_id = :id AND used = :false")
            .expression_attribute_values(":id", string(id))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        let deleted = send_unrepeated(|| delete.clone().send()).await;
        match deleted {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(DeleteItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(error) => Err(StoreError::new(error)),
        }
    }

    /// The counting write of a check: when the code is wrong, one attempt (with this
    /// check's id) and one failure are counted, in the same write that compares the digest,
    /// so that parallel guesses can never be compared without being counted. It counts only
    /// on `before` attempts exactly, so that a commit tells how many the challenge has left
    /// (a transaction returns no values); a wrong `before` fails with the stored count.
    fn wrong_code_items(
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
    fn right_code_items(
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
    fn judge(check: &Check<'_>, stored: Option<&Item>) -> Result<Judged, StoreError> {
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
    async fn check_once(
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
                tokio::time::sleep(Duration::from_millis(10)).await;
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
enum Judged {
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

impl ChallengeStore for DynamoStore {
    async fn verified(&self, phone_key: &str) -> Result<Option<VerifiedPhone>, StoreError> {
        self.within_budget(async {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", verified_key(phone_key))
                .projection_expression("#owner")
                .expression_attribute_names("#owner", "owner")
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::new)?;
            Ok(output.item.map(|item| VerifiedPhone {
                owner: optional_text(&item, "owner").map(str::to_owned),
            }))
        })
        .await
    }

    async fn issue(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        self.within_budget(self.issue_once(issue)).await
    }

    async fn withdraw(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        self.within_budget(self.withdraw_once(withdrawal)).await
    }

    async fn check(&self, check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        let tallied = AtomicBool::new(false);
        let outcome = self.within_budget(self.check_once(check, &tallied)).await;
        if tallied.load(Ordering::Relaxed) && !matches!(outcome, Ok(CheckOutcome::Verified { .. }))
        {
            // Another check used the challenge, or this one failed: its tally goes back.
            // When the tally itself failed, this may take back another verification, which
            // errs towards a stricter breaker; it never goes below zero.
            let untallied = self.tally_once(check.tally, Tallied::Unverified, check.now);
            if let Err(error) = self.within_budget(untallied).await {
                tracing::warn!(error = %error, "the breaker's tally could not be taken back");
            }
        }
        outcome
    }

    async fn breaker_readings(
        &self,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<Vec<Reading>, StoreError> {
        let read = self.readings_once(None, destinations, window);
        Ok(self.within_budget(read).await?.1)
    }

    async fn send_readings(
        &self,
        phone_key: &str,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<SendReadings, StoreError> {
        let read = self.readings_once(Some(phone_key), destinations, window);
        let (verified, readings) = self.within_budget(read).await?;
        Ok(SendReadings { verified, readings })
    }

    async fn tally(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> Result<(), StoreError> {
        self.within_budget(self.tally_once(destinations, event, now)).await
    }

    async fn trip(&self, destination: &Destination, until: EpochSeconds) -> Result<(), StoreError> {
        self.within_budget(async {
            // The item outlives the trip by a window, so that no tally written before it is
            // purged early: `purge_at` only ever grows (see `tally_once`).
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", destination_key(destination))
                .update_expression("SET tripped_until = :until, purge_at = :purge_at")
                .condition_expression(
                    "attribute_not_exists(tripped_until) OR tripped_until < :until",
                )
                .expression_attribute_values(":until", number(until))
                .expression_attribute_values(":purge_at", number(breaker::bucket_expiry(until)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
                {
                    Ok(()) // a trip as long or longer is recorded
                }
                Err(error) => Err(StoreError::new(error)),
            }
        })
        .await
    }
}

impl DynamoStore {
    /// Reads each destination's item, and the phone's record when `phone_key` is given, in
    /// one `BatchGetItem` (eventually consistent: a
    /// tally a moment old decides as well, and the write that follows re-checks the owner),
    /// asking again for any keys DynamoDB left unprocessed.
    async fn readings_once(
        &self,
        phone_key: Option<&str>,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<(Option<VerifiedPhone>, Vec<Reading>), StoreError> {
        let mut wanted: Vec<AttributeValue> = Vec::new();
        wanted.extend(phone_key.map(verified_key));
        wanted.extend(destinations.iter().map(destination_key));
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in wanted.chunks(100) {
            let keys = chunk.iter().map(|key| HashMap::from([("pk".to_owned(), key.clone())]));
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys.collect()))
                .build()
                .map_err(StoreError::new)?;
            let mut pause = Duration::from_millis(10);
            loop {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::new)?;
                for item in
                    output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default()
                {
                    found.insert(text(&item, "pk")?.to_owned(), item);
                }
                match output.unprocessed_keys.unwrap_or_default().remove(&self.table) {
                    Some(left) if !left.keys().is_empty() => request = left,
                    _ => break,
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
        let verified = phone_key.and_then(|phone_key| {
            let item = found.get(&format!("verified#{phone_key}"))?;
            Some(VerifiedPhone { owner: optional_text(item, "owner").map(str::to_owned) })
        });
        let readings = destinations
            .iter()
            .map(|destination| {
                let item = found.get(&format!("breaker#{}", destination.trip_key()));
                let count = |name: &str| item.and_then(|item| numeric(item, name).ok());
                Reading {
                    tally: window.iter().fold(Tally::default(), |sum, bucket| {
                        sum + Tally {
                            sent: count(&tally_field("sent", *bucket)).unwrap_or(0),
                            verified: count(&tally_field("verified", *bucket)).unwrap_or(0),
                        }
                    }),
                    tripped_until: count("tripped_until"),
                }
            })
            .collect();
        Ok((verified, readings))
    }

    /// One `UpdateItem` per destination, all at once, each sent again only when DynamoDB
    /// answered that it did not apply it ([`send_unrepeated`]): an `ADD` is not idempotent,
    /// and a tally one short is better than one counted twice. Each also removes
    /// the buckets that left the window in the last two hours, so that a destination with
    /// steady traffic keeps one window of buckets; one that falls silent expires whole.
    async fn tally_once(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> Result<(), StoreError> {
        let mut updates = tokio::task::JoinSet::new();
        for destination in destinations {
            let client = self.unretried.clone();
            let table = self.table.clone();
            let key = destination_key(destination);
            updates.spawn(async move { tally_item(&client, &table, key, event, now).await });
        }
        while let Some(done) = updates.join_next().await {
            done.map_err(StoreError::new)??;
        }
        Ok(())
    }
}

/// The attribute of a destination's item that tallies `event_name` (`sent`, `verified`) in
/// the bucket starting at `bucket`.
fn tally_field(event_name: &str, bucket: EpochSeconds) -> String {
    format!("{event_name}_{bucket}")
}

/// Tallies `event` on one destination's item. A count raises the item's `purge_at` to the
/// end of its bucket's window, unless the item lives longer already (a trip), in which case
/// a second write counts without touching it: an update cannot take the larger of two.
async fn tally_item(
    client: &Client,
    table: &str,
    key: AttributeValue,
    event: Tallied,
    now: EpochSeconds,
) -> Result<(), StoreError> {
    let bucket = breaker::bucket_of(now);
    let (event_name, delta) = match event {
        Tallied::Sent => ("sent", 1),
        Tallied::Unsent => ("sent", -1),
        Tallied::Verified => ("verified", 1),
        Tallied::Unverified => ("verified", -1),
    };
    let mut left_window = Vec::new();
    for back in breaker::BUCKETS..breaker::BUCKETS * 3 {
        if let Some(old) = bucket.checked_sub(back * breaker::BUCKET_SECONDS) {
            left_window.extend([tally_field("sent", old), tally_field("verified", old)]);
        }
    }
    let removals: Vec<String> = (0..left_window.len()).map(|i| format!("#old{i}")).collect();
    let update = |raise_purge: bool| {
        let set = if raise_purge { "SET purge_at = :purge_at " } else { "" };
        let mut update = client
            .update_item()
            .table_name(table)
            .key("pk", key.clone())
            .update_expression(format!("{set}ADD #count :delta REMOVE {}", removals.join(", ")))
            .expression_attribute_names("#count", tally_field(event_name, bucket))
            .expression_attribute_values(":delta", number(delta));
        for (placeholder, name) in removals.iter().zip(&left_window) {
            update = update.expression_attribute_names(placeholder, name);
        }
        if event.takes_back() {
            // Never below zero: a take-back finds nothing to take when its event is gone.
            update = update
                .condition_expression("#count >= :one")
                .expression_attribute_values(":one", number(1));
        } else if raise_purge {
            update = update
                .condition_expression("attribute_not_exists(purge_at) OR purge_at <= :purge_at")
                .expression_attribute_values(":purge_at", number(breaker::bucket_expiry(bucket)));
        }
        update
    };
    let conditional_failed = |error: &SdkError<UpdateItemError, _>| {
        error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
    };
    match send_unrepeated(|| update(!event.takes_back()).send()).await {
        Ok(_) => Ok(()),
        // A take-back with nothing to take.
        Err(error) if event.takes_back() && conditional_failed(&error) => Ok(()),
        // The item lives longer than this bucket's window: count without shortening it.
        Err(error) if conditional_failed(&error) => {
            send_unrepeated(|| update(false).send()).await.map(|_| ()).map_err(StoreError::new)
        }
        Err(error) => Err(StoreError::new(error)),
    }
}

/// Whether a cancellation reason is a failed condition.
fn failed(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// How many times [`send_unrepeated`] sends a write DynamoDB refused unapplied.
const UNREPEATED_TRIES: u32 = 3;

/// Sends a write that must not apply twice (its condition cannot recognise its own earlier
/// write), made by `send` on the client without the SDK's retries: again only when DynamoDB
/// answered that it did not apply it (throttling, a conflict), after 10 ms and then 20.
/// Any other failure (a timeout, a lost connection, a server error) may hide an applied
/// write and is returned as it is.
async fn send_unrepeated<T, E, R, F>(send: impl Fn() -> F) -> Result<T, SdkError<E, R>>
where
    F: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut pause = Duration::from_millis(10);
    for _ in 1..UNREPEATED_TRIES {
        match send().await {
            Err(error) if refused_unapplied(&error) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            answer => return answer,
        }
    }
    send().await
}

/// Whether DynamoDB answered that it refused a single-item write without applying it.
fn refused_unapplied<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code);
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "TransactionConflictException"
                | "ReplicatedWriteConflictException"
        )
    )
}

/// Whether a cancelled transaction left an item's condition unjudged (a conflict,
/// throttling): neither passed (`None`) nor failed.
fn undecided(reason: &CancellationReason) -> bool {
    !matches!(reason.code(), None | Some("None" | "ConditionalCheckFailed"))
}

fn challenge_key(phone_key: &str, subject_key: &str) -> AttributeValue {
    AttributeValue::S(format!("challenge#{phone_key}#{subject_key}"))
}

fn verified_key(phone_key: &str) -> AttributeValue {
    AttributeValue::S(format!("verified#{phone_key}"))
}

/// The key of the item holding the breaker's state for `destination`.
fn destination_key(destination: &Destination) -> AttributeValue {
    AttributeValue::S(format!("breaker#{}", destination.trip_key()))
}

/// Where a send counter is kept. An hourly budget and the daily budget of the same scope
/// (all sends, or one country) share the daily counter's item: `sends` is the day's count,
/// as it was when each had its own item, and `sends_by_<hour end>` the hour's. One
/// conditional write then serves both limits, one item in the send transaction instead of
/// two (2 write units less for each pair).
enum Slot<'a> {
    /// A counter in an item of its own.
    One(&'a Counter),
    /// A daily budget and an hourly one of the same scope, in the daily one's item.
    Folded { day: &'a Counter, hour: &'a Counter },
}

impl Slot<'_> {
    /// The counter whose key, limit (`sends`) and end (`purge_at`) the item has.
    fn item_counter(&self) -> &Counter {
        match self {
            Self::One(counter) | Self::Folded { day: counter, .. } => counter,
        }
    }

    /// The counters a refused write found full, with their counts from the old item. A
    /// full counter holds its limit unless refunds moved it since; when neither of a pair
    /// reads full, both are named (the refusal stands either way).
    fn full_counters<'a>(&'a self, item: Option<&Item>) -> Vec<(&'a Counter, u32)> {
        let count = |field: &str, counter: &Counter| {
            item.and_then(|item| numeric::<u32>(item, field).ok()).unwrap_or(counter.limit)
        };
        match self {
            Self::One(counter) => vec![(*counter, count("sends", counter))],
            Self::Folded { day, hour } => {
                let counts = [(*day, count("sends", day)), (*hour, count(&hour_field(hour), hour))];
                let full: Vec<_> =
                    counts.iter().copied().filter(|(counter, n)| *n >= counter.limit).collect();
                if full.is_empty() { counts.to_vec() } else { full }
            }
        }
    }
}

/// The daily budget that `hour` (an hourly budget) is folded into, by kind.
const fn day_of(kind: CounterKind) -> Option<CounterKind> {
    match kind {
        CounterKind::BudgetHour => Some(CounterKind::BudgetDay),
        CounterKind::CountryHour => Some(CounterKind::CountryDay),
        _ => None,
    }
}

/// Whom a counter counts: its key without the kind and the window start.
fn scope(counter: &Counter) -> Option<&str> {
    let rest = counter.key.strip_prefix(counter.kind.name())?.strip_prefix('#')?;
    rest.rsplit_once('#').map(|(scope, _)| scope)
}

/// The field of a daily budget's item that holds the hourly budget `hour`.
fn hour_field(hour: &Counter) -> String {
    format!("sends_by_{}", hour.resets_at)
}

/// The items `counters` are kept in, in the order of `counters` (a folded pair where its
/// daily counter is).
fn slots(counters: &[Counter]) -> Vec<Slot<'_>> {
    let partner = |counter: &Counter, kind: CounterKind| {
        counters.iter().find(|other| other.kind == kind && scope(other) == scope(counter))
    };
    counters
        .iter()
        .filter_map(|counter| {
            if day_of(counter.kind).and_then(|kind| partner(counter, kind)).is_some() {
                return None; // kept in its daily budget's item
            }
            let hour = [CounterKind::BudgetHour, CounterKind::CountryHour]
                .into_iter()
                .filter(|hour| day_of(*hour) == Some(counter.kind))
                .find_map(|hour| partner(counter, hour));
            Some(match hour {
                Some(hour) => Slot::Folded { day: counter, hour },
                None => Slot::One(counter),
            })
        })
        .collect()
}

fn counter_key(counter: &Counter) -> AttributeValue {
    AttributeValue::S(format!("counter#{}", counter.key))
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn parse_challenge(
    phone_key: &str,
    subject_key: &str,
    item: &Item,
) -> Result<Challenge, StoreError> {
    let used = item.get("used").and_then(|v| v.as_bool().ok()).copied();
    Ok(Challenge {
        id: text(item, "challenge_id")?.to_owned(),
        phone_key: phone_key.to_owned(),
        subject_key: subject_key.to_owned(),
        code_digest: item
            .get("code_digest")
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| StoreError::new("challenge item has no valid code_digest"))?
            .as_ref()
            .to_vec(),
        expires_at: numeric(item, "expires_at")?,
        resend_after: numeric(item, "resend_after")?,
        attempts: numeric(item, "attempts")?,
        used: used.ok_or_else(|| StoreError::new("challenge item has no valid used"))?,
        // Written before the field existed: every send was tallied then.
        tallied: item.get("tallied").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true),
    })
}

fn optional_text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|value| value.as_s().ok()).map(String::as_str)
}

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    optional_text(item, name).ok_or_else(|| StoreError::new(format!("item has no valid {name}")))
}

fn string_set<'a>(item: &'a Item, name: &str) -> Vec<&'a str> {
    item.get(name)
        .and_then(|value| value.as_ss().ok())
        .map(|set| set.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn numeric<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::new(format!("item has no valid number {name}")))
}
